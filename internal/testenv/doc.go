// Package testenv starts throw-away servers for tests: real PostgreSQL
// clusters from the system's binaries, in temp dirs, on free loopback ports.
//
// A package that uses a server wires the shared instances' shutdown into its
// TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }
//
// and asks for the server in each test:
//
//	pg := testenv.Postgres(t)   // shared by the test binary, started on first use
//	dsn := pg.NewDatabase(t)    // a fresh database, dropped when the test ends
//
// Tests that need a server of their own (to restart it, or with other
// settings) start a private one, stopped when the test ends:
//
//	pg := testenv.StartPostgres(t, "wal_level=replica")
//
// A missing server binary fails the test with the command that installs it.
// Servers run as the unprivileged `postgres` user when the tests run as root
// (PostgreSQL refuses to run as root), and they die with the test binary even
// when it is killed: their parent-death signal is set. Temp dirs a killed
// binary left behind are swept by the next run.
package testenv
