import SecretFillCLI

// secretfill: the local commands. Commands that talk to a team server are
// handed to the secretfill-team program beside this one (see TeamHandoff), so
// this program links no networking and starts as fast as it did before.
Secretfill.main()
