"""Server-rendered pages: landing, the chooser, a branch's home, the zone's home."""
