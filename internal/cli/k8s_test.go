package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// k8sSQLiteConfig keeps its state in a SQLite file next to the config and
// reads a password from the environment.
const k8sSQLiteConfig = `# legacy -> platform
stores:
  legacy:   {driver: postgres, dsn: "postgres://app:${DB_PASSWORD}@legacy:5432/app", capture: logical}
  platform: {driver: postgres, dsn: "${PLATFORM_DSN}"}
flows:
  - name: customers
    from: {store: legacy, table: public.cust_mstr}
    to:   {store: platform, table: customers}
    columns:
      id: cust_id
      email: lower(email_adr)
`

// k8sPostgresConfig keeps its state in PostgreSQL and listens beyond loopback.
const k8sPostgresConfig = `state: postgres://sync:${STATE_PASSWORD}@pg:5432/sync
http: {listen: "0.0.0.0:9090", token: "${SYNCBRIDGE_TOKEN}"}
stores:
  legacy:   {driver: postgres, dsn: "postgres://app:${DB_PASSWORD}@legacy:5432/app", capture: logical}
  platform: {driver: postgres, dsn: "${PLATFORM_DSN}"}
flows:
  - name: customers
    from: {store: legacy, table: public.cust_mstr}
    to:   {store: platform, table: customers}
`

// k8sSecrets sets the variables of both configs to values that must never
// appear in the output.
func k8sSecrets(t *testing.T) []string {
	vals := map[string]string{
		"DB_PASSWORD":      "pa55-w0rd-db-4711",
		"PLATFORM_DSN":     "postgres://plat:pa55-w0rd-plat-4712@platform:5432/p",
		"STATE_PASSWORD":   "pa55-w0rd-state-4713",
		"SYNCBRIDGE_TOKEN": "t0ken-4714",
	}
	for k, v := range vals {
		t.Setenv(k, v)
	}
	return []string{"pa55-w0rd", "t0ken-4714"}
}

// runK8s writes cfg to a temp dir and runs `syncbridge k8s -c FILE args...`.
func runK8s(t *testing.T, cfg string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "syncbridge.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code = Execute(context.Background(), append([]string{"k8s", "-c", path}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// k8sDocs decodes every YAML document of out into generic maps, by kind.
func k8sDocs(t *testing.T, out string) (kinds []string, byKind map[string]map[string]any) {
	t.Helper()
	byKind = map[string]map[string]any{}
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decode: %v\n%s", err, out)
		}
		if doc == nil {
			continue // the header comments
		}
		kind, _ := doc["kind"].(string)
		kinds = append(kinds, kind)
		byKind[kind] = doc
	}
	return kinds, byKind
}

// at walks maps by key and lists by index ("0"); `\.` is a dot in a key.
func at(t *testing.T, v any, path string) any {
	t.Helper()
	for _, seg := range strings.Split(strings.ReplaceAll(path, `\.`, "\x00"), ".") {
		seg = strings.ReplaceAll(seg, "\x00", ".")
		switch x := v.(type) {
		case map[string]any:
			v = x[seg]
		case []any:
			var i int
			if _, err := fmt.Sscan(seg, &i); err != nil || i >= len(x) {
				t.Fatalf("%s: no element %s in %v", path, seg, x)
			}
			v = x[i]
		default:
			t.Fatalf("%s: %q not found (at %v)", path, seg, v)
		}
	}
	return v
}

func wantAt(t *testing.T, v any, path string, want any) {
	t.Helper()
	if got := at(t, v, path); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", path, got, want)
	}
}

// mountPaths maps a container's volume mounts: path -> volume name.
func mountPaths(t *testing.T, ctr any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range at(t, ctr, "volumeMounts").([]any) {
		out[at(t, m, "mountPath").(string)] = at(t, m, "name").(string)
	}
	return out
}

func noSecrets(t *testing.T, secrets []string, outputs ...string) {
	t.Helper()
	for _, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("output holds the secret value %q:\n%s", s, out)
			}
		}
	}
}

func TestK8sCronJobSQLiteState(t *testing.T) {
	secrets := k8sSecrets(t)
	code, out, errOut := runK8s(t, k8sSQLiteConfig, "--schedule", "*/10 * * * *", "--image", "example.com/sb:v1.2.3")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	noSecrets(t, secrets, out, errOut)
	if !strings.Contains(errOut, "persistent volume") || !strings.Contains(errOut, "PostgreSQL state store") {
		t.Errorf("stderr does not warn about the SQLite state:\n%s", errOut)
	}
	if !strings.Contains(out, "DB_PASSWORD, PLATFORM_DSN") {
		t.Errorf("the header does not list the variables:\n%s", out)
	}
	kinds, docs := k8sDocs(t, out)
	if !slices.Equal(kinds, []string{"ConfigMap", "PersistentVolumeClaim", "CronJob"}) {
		t.Fatalf("kinds = %v", kinds)
	}
	wantAt(t, docs["ConfigMap"], "data.syncbridge\\.yaml", k8sSQLiteConfig)
	wantAt(t, docs["PersistentVolumeClaim"], "metadata.name", "syncbridge-state")

	cj := docs["CronJob"]
	wantAt(t, cj, "metadata.labels.app\\.kubernetes\\.io/name", "syncbridge")
	for path, want := range map[string]any{
		"spec.schedule":                      "*/10 * * * *",
		"spec.concurrencyPolicy":             "Forbid",
		"spec.startingDeadlineSeconds":       120,
		"spec.successfulJobsHistoryLimit":    3,
		"spec.failedJobsHistoryLimit":        3,
		"spec.jobTemplate.spec.backoffLimit": 2,
		"spec.jobTemplate.spec.podFailurePolicy.rules.0.onExitCodes.values.0": ExitUsage,
	} {
		wantAt(t, cj, path, want)
	}
	pod := at(t, cj, "spec.jobTemplate.spec.template.spec")
	wantAt(t, pod, "restartPolicy", "Never")
	wantAt(t, pod, "securityContext.runAsNonRoot", true)
	ctr := at(t, pod, "containers.0")
	wantAt(t, ctr, "image", "example.com/sb:v1.2.3")
	wantAt(t, ctr, "args", []string{"run", "--once", "-c", "/etc/syncbridge/syncbridge.yaml"})
	wantAt(t, ctr, "envFrom.0.secretRef.name", "syncbridge-env")
	wantAt(t, ctr, "securityContext.readOnlyRootFilesystem", true)
	wantAt(t, ctr, "resources.limits.memory", "512Mi")
	wantAt(t, ctr, "resources.requests.cpu", "100m")
	if _, ok := ctr.(map[string]any)["env"]; ok {
		t.Errorf("the container has inline env: %v", ctr)
	}
	// The relative state resolves against the config's directory, so the
	// volume is mounted there and the config as a single file inside it.
	mounts := mountPaths(t, ctr)
	want := map[string]string{"/etc/syncbridge": "state", "/etc/syncbridge/syncbridge.yaml": "config", "/tmp": "tmp"}
	if fmt.Sprint(mounts) != fmt.Sprint(want) {
		t.Errorf("mounts = %v, want %v", mounts, want)
	}
	wantAt(t, pod, "volumes.1.persistentVolumeClaim.claimName", "syncbridge-state")
}

func TestK8sDeploymentPostgresState(t *testing.T) {
	secrets := k8sSecrets(t)
	code, out, errOut := runK8s(t, k8sPostgresConfig, "--mode", "deployment", "--name", "orders-sync",
		"--namespace", "sync", "--secret", "orders-env", "--image", "example.com/sb:v1.2.3")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	noSecrets(t, secrets, out, errOut)
	if strings.Contains(errOut, "persistent volume") {
		t.Errorf("a postgres state store needs no volume, but:\n%s", errOut)
	}
	kinds, docs := k8sDocs(t, out)
	if !slices.Equal(kinds, []string{"ConfigMap", "Deployment", "Service"}) {
		t.Fatalf("kinds = %v", kinds)
	}
	wantAt(t, docs["ConfigMap"], "data.syncbridge\\.yaml", k8sPostgresConfig)
	for _, kind := range kinds {
		wantAt(t, docs[kind], "metadata.namespace", "sync")
		wantAt(t, docs[kind], "metadata.labels.app\\.kubernetes\\.io/instance", "orders-sync")
		wantAt(t, docs[kind], "metadata.labels.app\\.kubernetes\\.io/version", "v1.2.3")
	}
	d := docs["Deployment"]
	wantAt(t, d, "spec.replicas", 1)
	wantAt(t, d, "spec.strategy.type", "Recreate")
	ctr := at(t, d, "spec.template.spec.containers.0")
	wantAt(t, ctr, "args", []string{"run", "-c", "/etc/syncbridge/syncbridge.yaml"})
	wantAt(t, ctr, "livenessProbe.httpGet.path", "/healthz")
	wantAt(t, ctr, "readinessProbe.httpGet.path", "/readyz")
	wantAt(t, ctr, "ports.0.containerPort", 9090)
	wantAt(t, ctr, "envFrom.0.secretRef.name", "orders-env")
	mounts := mountPaths(t, ctr)
	if want := map[string]string{"/etc/syncbridge": "config", "/tmp": "tmp"}; fmt.Sprint(mounts) != fmt.Sprint(want) {
		t.Errorf("mounts = %v, want %v", mounts, want)
	}
	s := docs["Service"]
	wantAt(t, s, "metadata.annotations.prometheus\\.io/scrape", "true")
	wantAt(t, s, "metadata.annotations.prometheus\\.io/port", "9090")
	wantAt(t, s, "spec.ports.0.port", 9090)
	wantAt(t, s, "spec.selector.app\\.kubernetes\\.io/instance", "orders-sync")
}

// TestK8sDeploymentLoopbackListener: probes cannot reach 127.0.0.1 in a pod;
// the config is not rewritten, the output says what to set.
func TestK8sDeploymentLoopbackListener(t *testing.T) {
	k8sSecrets(t)
	code, out, errOut := runK8s(t, k8sSQLiteConfig, "--mode", "deployment")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	kinds, docs := k8sDocs(t, out)
	if !slices.Equal(kinds, []string{"ConfigMap", "PersistentVolumeClaim", "Deployment"}) {
		t.Fatalf("kinds = %v", kinds)
	}
	ctr := at(t, docs["Deployment"], "spec.template.spec.containers.0").(map[string]any)
	if _, ok := ctr["livenessProbe"]; ok {
		t.Errorf("a probe on a loopback listener: %v", ctr)
	}
	for _, s := range []string{out, errOut} {
		if !strings.Contains(s, `listen: "0.0.0.0:8686", token: "${SYNCBRIDGE_TOKEN}"`) {
			t.Errorf("no instruction to set http.listen:\n%s", s)
		}
	}
	wantAt(t, docs["ConfigMap"], "data.syncbridge\\.yaml", k8sSQLiteConfig)
}

func TestK8sBadConfigAndFlags(t *testing.T) {
	k8sSecrets(t)
	for name, tc := range map[string]struct {
		cfg  string
		args []string
		want string
	}{
		"unknown key":    {cfg: k8sSQLiteConfig + "bogus: 1\n", want: "bogus"},
		"invalid":        {cfg: strings.Replace(k8sSQLiteConfig, "store: legacy", "store: nowhere", 1), want: "is not valid"},
		"unset variable": {cfg: k8sSQLiteConfig + "http: {token: \"${K8S_TEST_UNSET}\"}\n", want: "K8S_TEST_UNSET is not set"},
		"mode":           {cfg: k8sSQLiteConfig, args: []string{"--mode", "statefulset"}, want: "--mode"},
		"schedule":       {cfg: k8sSQLiteConfig, args: []string{"--mode", "deployment", "--schedule", "@daily"}, want: "--schedule"},
		"bad schedule":   {cfg: k8sSQLiteConfig, args: []string{"--schedule", "every 5 minutes"}, want: "--schedule"},
		"name":           {cfg: k8sSQLiteConfig, args: []string{"--name", "Sync_Bridge"}, want: "--name"},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runK8s(t, tc.cfg, tc.args...)
			if code != ExitUsage || out != "" || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, want 2 with %q on stderr and nothing on stdout\nstdout: %s\nstderr: %s", code, tc.want, out, errOut)
			}
		})
	}
}

func TestK8sHelp(t *testing.T) {
	var out bytes.Buffer
	if code := Execute(context.Background(), []string{"k8s", "--help"}, &out, &out); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	for _, want := range []string{"Examples:", "--mode", "--schedule", "--image", "--name", "--namespace", "--secret", "envFrom"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}
