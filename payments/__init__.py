"""The payment provider behind one interface: tokenize a card, charge once per key, refund."""
