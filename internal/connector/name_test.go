package connector

import "testing"

func TestSplitTableName(t *testing.T) {
	for in, want := range map[string][2]string{
		"t": {"", "t"}, "public.t": {"public", "t"}, `"a.b"."c.d"`: {"a.b", "c.d"},
		`"Order's ""x"""`: {"", `Order's "x"`}, `main."select"`: {"main", "select"}, "naïve": {"", "naïve"},
	} {
		s, n, err := SplitTableName(in)
		if err != nil || s != want[0] || n != want[1] {
			t.Errorf("SplitTableName(%q) = %q, %q, %v; want %q", in, s, n, err, want)
		}
	}
	for _, bad := range []string{"", "a.b.c", `"open`, ".t", "t."} {
		if _, _, err := SplitTableName(bad); err == nil {
			t.Errorf("SplitTableName(%q) accepted", bad)
		}
	}
}
