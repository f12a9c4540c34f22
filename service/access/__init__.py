"""Who may enter: accounts, sign-in sessions, roles granted in the app, integrations' tokens."""
