"""The zone's read models: per-branch figures per period, computed from the branches' own
records (a branch never types a figure twice), and the rankings built on them."""
