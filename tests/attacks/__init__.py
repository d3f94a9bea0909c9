"""Attack tests: each module names its attacker and what they try; each must fail to work."""
