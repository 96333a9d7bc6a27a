-- When the buyer's payment method was last confirmed on the quote's PaymentIntent: a 3-D Secure authentication
-- left undone an hour after it is cancelled (payments/stripe.py), counted from here, not from the intent's
-- creation (a declined card's intent is confirmed again later with another card).
ALTER TABLE stripe_payment_intents ADD COLUMN confirmed_at timestamptz;
