"""The audit log: who changed what, in which branch, before and after, and when."""
