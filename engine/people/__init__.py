"""Agency people (Espace Pro): accounts, passwords, server-side sessions, sign-in throttling."""
