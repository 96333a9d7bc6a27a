"""The buyer app: accept and pay a quote from the email link (R13) or the quotes page (R14)."""
