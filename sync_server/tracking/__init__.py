"""The public tracking page: petition number + the filing mobile number → OTP → status history."""
