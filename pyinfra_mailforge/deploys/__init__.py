"""pyinfra deploys of mailforge."""
