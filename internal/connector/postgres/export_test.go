package postgres

// Exported for the external tests.
var TextArg = textArg
