"""Services: workflows that combine capabilities (scan, classify, hash, sign) into one user-facing task."""
