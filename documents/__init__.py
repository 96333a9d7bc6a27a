"""What a buyer reads outside the pages, in the customer's language: the quote PDF and the one message
catalog that the emails, the PDF and the buyer pages share (docs/walkthrough-partners.md, "Documents and languages").
Pure functions of a quote: no I/O but reading the catalog shipped with the package."""
