"""NextAuth / Auth.js from the outside: the flows a browser runs, the auth rules, and their remedies."""
