"""The subcommands of the `electra` command line (`electra.cli` parses the arguments):
`pretrain` (the backend-neutral run loop) and `detect` (the discriminator demo)."""
