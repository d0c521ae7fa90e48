package testenv_test

import (
	"database/sql"
	"testing"

	_ "github.com/go-sql-driver/mysql"

	"github.com/syncbridge/syncbridge/internal/testenv"
)

func TestMariaDBNewDatabase(t *testing.T) {
	m := testenv.MariaDB(t)
	db, err := sql.Open("mysql", m.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logBin, format, image string
	if err := db.QueryRow("SELECT @@log_bin, @@binlog_format, @@binlog_row_image").Scan(&logBin, &format, &image); err != nil {
		t.Fatal(err)
	}
	if logBin != "1" || format != "ROW" || image != "FULL" {
		t.Fatalf("log_bin=%s binlog_format=%s binlog_row_image=%s, want 1 ROW FULL", logBin, format, image)
	}
	if _, err := db.Exec("CREATE TABLE t (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
}
