import SecretFillCLI

// secretfill-team: the same commands as secretfill, with the team server and
// its HTTP client linked in. `secretfill` hands it every command that talks
// to a server (serve, keys, audit, and any verb given --server).
TeamComponents.installed = TeamWiring.components
Secretfill.main()
