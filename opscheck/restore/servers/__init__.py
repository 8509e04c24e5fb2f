"""The throwaway PostgreSQL servers a drill restores into: a local ``initdb`` cluster or a Docker
container, who owns them, and cleaning up the ones a killed run left behind."""
