package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"
	"github.com/syncbridge/syncbridge/internal/config"
	"github.com/syncbridge/syncbridge/internal/server"
)

// In the pod the config is mounted as k8sConfigPath, so relative SQLite paths
// (state: and sqlite dsn:) resolve against k8sConfigDir, as they do locally
// against the config file's directory.
const (
	k8sConfigDir   = "/etc/syncbridge"
	k8sConfigFile  = "syncbridge.yaml"
	k8sConfigPath  = k8sConfigDir + "/" + k8sConfigFile
	k8sImageRepo   = "ghcr.io/syncbridge/syncbridge"
	k8sUID         = 65532 // the conventional non-root user of distroless images
	k8sStateSize   = "1Gi"
	k8sGracePeriod = 60 // seconds for SIGTERM: commit or roll back the batch in hand
)

type k8sOptions struct {
	mode, schedule, image, name, namespace, secret string
}

func newK8sCmd(g *globals) *cobra.Command {
	var o k8sOptions
	cmd := &cobra.Command{
		Use:   "k8s",
		Short: "Print Kubernetes manifests (CronJob or Deployment) that run this config",
		Long: `k8s checks the configuration statically (as validate does, without contacting any
store) and prints multi-document YAML for kubectl apply:

  - a ConfigMap holding the config file verbatim, mounted at ` + k8sConfigPath + `;
  - --mode cronjob (default): a CronJob running "syncbridge run --once" on
    --schedule, concurrencyPolicy Forbid (the state store's lease enforces the
    same), restartPolicy Never, a bounded backoffLimit, and no retry of a
    configuration error (exit 2);
  - --mode deployment: one replica of "syncbridge run" with strategy Recreate
    (two instances never overlap), probes on /healthz and /readyz and a Service
    for /metrics with prometheus.io annotations;
  - a PersistentVolumeClaim for the state directory when state: is a SQLite
    file (a PostgreSQL state store needs no volume).

Every ${VAR} the config references is read in the pod from the Secret named by
--secret through envFrom; the Secret itself is not printed, and no value of a
variable ever appears in the output. The variables must be set when k8s runs
(the config is loaded as validate loads it); their values serve only to check
the config and to see where state: and http.listen point.

Probes and the Service need http.listen bound beyond loopback, e.g.
http: {listen: "0.0.0.0:8686", token: "${SYNCBRIDGE_TOKEN}"}; otherwise they
are left out and the output says what to set. The image must have syncbridge
on its PATH. Pods run as a non-root user with a read-only root filesystem and
an emptyDir at /tmp.`,
		Example: `  syncbridge k8s -c syncbridge.yaml > syncbridge.k8s.yaml
  kubectl create secret generic syncbridge-env --from-literal=LEGACY_DSN='postgres://…'
  syncbridge k8s -c syncbridge.yaml --schedule "*/15 * * * *" --namespace sync | kubectl apply -f -
  syncbridge k8s -c syncbridge.yaml --mode deployment --name orders-sync --secret orders-sync-env`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.secret == "" {
				o.secret = o.name + "-env"
			}
			if err := o.check(cmd.Flags().Changed("schedule")); err != nil {
				return err
			}
			p, err := g.k8sPlan(o, cmd.Flags().Changed("secret"))
			if err != nil {
				return err
			}
			for _, w := range p.warnings {
				fmt.Fprintln(g.stderr, "warning:", w)
			}
			return p.write(g.stdout)
		},
	}
	cmd.Flags().StringVar(&o.mode, "mode", "cronjob", "cronjob (run --once on a schedule) or deployment (run continuously)")
	cmd.Flags().StringVar(&o.schedule, "schedule", "*/5 * * * *", "cron schedule of the CronJob")
	cmd.Flags().StringVar(&o.image, "image", "", "container image (default "+k8sImageRepo+":<version>)")
	cmd.Flags().StringVar(&o.name, "name", "syncbridge", "name of the workload and prefix of the other objects")
	cmd.Flags().StringVar(&o.namespace, "namespace", "", "namespace of every object (default: none, kubectl's)")
	cmd.Flags().StringVar(&o.secret, "secret", "", "Secret holding the config's ${VAR} values (default <name>-env)")
	return cmd
}

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	labelValue   = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	cronMacros   = []string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)

// check rejects what the API server would refuse, before anything is printed.
func (o *k8sOptions) check(scheduleSet bool) error {
	switch {
	case o.mode != "cronjob" && o.mode != "deployment":
		return usageErr(fmt.Errorf("--mode %q: use cronjob or deployment", o.mode))
	case scheduleSet && o.mode != "cronjob":
		return usageErr(fmt.Errorf("--schedule applies only to --mode cronjob"))
	case !dnsLabel.MatchString(o.name) || o.name[0] < 'a' || len(o.name) > 52:
		// 52: a CronJob's Jobs add 11 characters to its name.
		return usageErr(fmt.Errorf("--name %q: use at most 52 lowercase letters, digits and '-', starting with a letter", o.name))
	case o.namespace != "" && (!dnsLabel.MatchString(o.namespace) || len(o.namespace) > 63):
		return usageErr(fmt.Errorf("--namespace %q: use at most 63 lowercase letters, digits and '-'", o.namespace))
	case !dnsSubdomain.MatchString(o.secret) || len(o.secret) > 253:
		return usageErr(fmt.Errorf("--secret %q is not a valid Secret name", o.secret))
	case o.mode == "cronjob" && len(strings.Fields(o.schedule)) != 5 && !slices.Contains(cronMacros, o.schedule):
		return usageErr(fmt.Errorf("--schedule %q: use five cron fields (\"*/5 * * * *\") or @hourly, @daily, …", o.schedule))
	}
	return nil
}

// k8sPlan is what the manifests are made from: the options, the config text
// and what the config implies for the pod.
type k8sPlan struct {
	o         k8sOptions
	src       []byte
	cfgName   string
	vars      []string // variables the config references, sorted
	envFrom   bool     // mount the Secret: the config references variables or --secret was given
	stateDir  string   // directory of the SQLite state in the pod; "" = no volume
	port      int      // http.listen port reachable by the kubelet; 0 = none
	version   string   // app.kubernetes.io/version; "" = not derivable from the image
	notes     []string // comment lines printed above the manifests
	warnings  []string // printed on stderr
	mountFile bool     // mount the config as a single file: the state volume holds its directory
}

// k8sPlan loads and statically validates the config (no store is contacted)
// and derives the pod's layout from it.
func (g *globals) k8sPlan(o k8sOptions, secretSet bool) (*k8sPlan, error) {
	src, err := os.ReadFile(g.configPath)
	if err != nil {
		return nil, usageErr(fmt.Errorf("read config: %w", err))
	}
	seen := map[string]bool{}
	lookup := func(name string) (string, bool) {
		seen[name] = true
		return os.LookupEnv(name)
	}
	cfg, err := config.Parse(g.configPath, src, lookup)
	if err != nil {
		return nil, usageErr(err)
	}
	if err := cfg.Validate(config.WithDrivers(registry().Names()...)); err != nil {
		return nil, usageErr(fmt.Errorf("%s is not valid:\n%w", cfg.Path, indent(err)))
	}
	// Parsed again as the pod will see it, for the in-pod SQLite paths.
	pod, err := config.Parse(k8sConfigPath, src, os.LookupEnv)
	if err != nil {
		return nil, usageErr(err)
	}
	p := &k8sPlan{o: o, src: src, cfgName: path.Base(strings.ReplaceAll(g.configPath, `\`, "/"))}
	for v := range seen {
		p.vars = append(p.vars, v)
	}
	slices.Sort(p.vars)
	p.envFrom = len(p.vars) > 0 || secretSet
	if p.o.image == "" {
		tag := Version
		if tag == "dev" {
			tag = "latest"
			p.warnings = append(p.warnings, "this is a development build: the image is "+k8sImageRepo+":latest; pin a release with --image")
		}
		p.o.image = k8sImageRepo + ":" + tag
	}
	p.version = imageTag(p.o.image)
	if err := p.layoutState(pod); err != nil {
		return nil, err
	}
	p.layoutHTTP(cfg.HTTP)
	return p, nil
}

// layoutState puts a SQLite state file on a PersistentVolumeClaim mounted at
// its directory: a pod's filesystem does not outlive it.
func (p *k8sPlan) layoutState(pod *config.Config) error {
	file, ok := sqliteFile(pod.State)
	switch {
	case !ok:
		// PostgreSQL: the checkpoints live in the database.
	case file == "":
		p.warnings = append(p.warnings, "state is an in-memory SQLite database: every run starts over; use a file or a postgres:// state store")
	default:
		p.stateDir = path.Dir(file)
		if p.stateDir == "/" || strings.HasPrefix(k8sConfigDir, p.stateDir+"/") {
			// A volume there would hide the image's files (CA certificates).
			return usageErr(fmt.Errorf("state: the SQLite file would be %s in the pod, where its volume would hide the image's files; "+
				"keep it in the config's directory or a subdirectory (state: ./state/syncbridge-state.db)", file))
		}
		// The ConfigMap is read-only: a state volume at or under its
		// directory needs the config mounted as a single file instead.
		p.mountFile = p.stateDir == k8sConfigDir || strings.HasPrefix(p.stateDir, k8sConfigDir+"/")
		what := "a Deployment's pod"
		if p.o.mode == "cronjob" {
			what = "a CronJob starts each run in a new pod and"
		}
		p.warnings = append(p.warnings, fmt.Sprintf("state is a local SQLite file (%s in the pod): %s needs a persistent volume to keep "+
			"the checkpoints; emitted PersistentVolumeClaim %s-state (ReadWriteOnce) mounted at %s. "+
			"A PostgreSQL state store (state: postgres://…) needs no volume", file, what, p.o.name, p.stateDir))
	}
	for _, name := range sortedStoreNames(pod.Stores) {
		s := pod.Stores[name]
		if f, ok := sqliteFile(s.DSN); s.Driver == "sqlite" && ok && f != "" && path.Dir(f) != p.stateDir {
			p.warnings = append(p.warnings, fmt.Sprintf("store %s is a SQLite file at %s in the pod, on no volume: "+
				"add a volume for %s, or keep the file next to a SQLite state file", name, f, path.Dir(f)))
		}
	}
	return nil
}

// layoutHTTP finds the port the kubelet and Prometheus can reach. A loopback
// listener cannot be probed from outside the pod, and k8s does not rewrite
// the config: it says what to change instead.
func (p *k8sPlan) layoutHTTP(h config.HTTP) {
	if h.Listen != config.ListenOff && !server.IsLoopback(h.Listen) {
		_, port, _ := net.SplitHostPort(h.Listen) // Validate checked the form
		p.port, _ = strconv.Atoi(port)
	}
	if p.port != 0 || p.o.mode != "deployment" {
		return
	}
	msg := fmt.Sprintf("http.listen is %q: the kubelet's probes and Prometheus cannot reach it, so the Deployment "+
		"has no probes and no Service. To get them, set in the config\n"+
		"  http: {listen: \"0.0.0.0:8686\", token: \"${SYNCBRIDGE_TOKEN}\"}\n"+
		"put SYNCBRIDGE_TOKEN in Secret %s and run k8s again", h.Listen, p.o.secret)
	p.warnings = append(p.warnings, msg)
	p.notes = append(p.notes, strings.Split("ACTION: "+msg, "\n")...)
}

// sqliteFile returns the file of a SQLite state or store DSN the way
// state.Open reads it; "" for an in-memory database; ok is false for a
// postgres:// DSN.
func sqliteFile(dsn string) (file string, ok bool) {
	lower := strings.ToLower(dsn)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		return "", false
	}
	for _, prefix := range []string{"sqlite://", "file:"} {
		if strings.HasPrefix(lower, prefix) {
			dsn = dsn[len(prefix):]
			break
		}
	}
	file, query, _ := strings.Cut(dsn, "?")
	if file == "" || strings.HasPrefix(file, ":") || strings.Contains(query, "mode=memory") {
		return "", true
	}
	if !path.IsAbs(file) {
		file = path.Join(k8sConfigDir, file)
	}
	return file, true
}

func sortedStoreNames(m map[string]config.Store) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// imageTag is the tag of an image reference, if it makes a valid label value.
func imageTag(image string) string {
	ref, _, _ := strings.Cut(image, "@")
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ""
	}
	if tag := ref[i+1:]; len(tag) <= 63 && labelValue.MatchString(tag) {
		return tag
	}
	return ""
}

// write prints the header comments and the manifests, one YAML document each.
func (p *k8sPlan) write(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Generated by `syncbridge k8s` (syncbridge %s) from %s: --mode %s.\n", Version, p.cfgName, p.o.mode)
	if len(p.vars) > 0 {
		ns := ""
		if p.o.namespace != "" {
			ns = " -n " + p.o.namespace
		}
		fmt.Fprintf(&b, "# Secret %s (not printed here) must hold the variables the config references:\n#   %s\n",
			p.o.secret, strings.Join(p.vars, ", "))
		fmt.Fprintf(&b, "# e.g. kubectl%s create secret generic %s", ns, p.o.secret)
		for _, v := range p.vars {
			fmt.Fprintf(&b, " --from-literal=%s=…", v)
		}
		b.WriteString("\n")
	}
	if p.port != 0 && p.o.mode == "deployment" {
		b.WriteString("# /metrics requires http.token as a bearer token: give the Prometheus scrape job\n" +
			"# authorization: {credentials_file: …}. /healthz and /readyz need none.\n")
	}
	for _, n := range p.notes {
		fmt.Fprintf(&b, "# %s\n", n)
	}
	for _, obj := range p.objects() {
		out, err := yaml.MarshalWithOptions(obj, yaml.IndentSequence(true), yaml.UseLiteralStyleIfMultiline(true))
		if err != nil {
			return failedErr(fmt.Errorf("encode manifest: %w", err))
		}
		b.WriteString("---\n")
		b.Write(out)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Manifest types: only the fields k8s prints, in the order kubectl shows
// them. Smaller parts are kv lists, which keep their order too.
type (
	k8sMeta struct {
		Name        string            `yaml:"name,omitempty"`
		Namespace   string            `yaml:"namespace,omitempty"`
		Labels      map[string]string `yaml:"labels,omitempty"`
		Annotations map[string]string `yaml:"annotations,omitempty"`
	}
	k8sObject struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   k8sMeta           `yaml:"metadata"`
		Data       map[string]string `yaml:"data,omitempty"`
		Spec       yaml.MapSlice     `yaml:"spec,omitempty"`
	}
	k8sPodTemplate struct {
		Metadata k8sMeta    `yaml:"metadata"`
		Spec     k8sPodSpec `yaml:"spec"`
	}
	k8sPodSpec struct {
		RestartPolicy                 string          `yaml:"restartPolicy"`
		TerminationGracePeriodSeconds int             `yaml:"terminationGracePeriodSeconds"`
		SecurityContext               yaml.MapSlice   `yaml:"securityContext"`
		Containers                    []k8sContainer  `yaml:"containers"`
		Volumes                       []yaml.MapSlice `yaml:"volumes"`
	}
	k8sContainer struct {
		Name            string          `yaml:"name"`
		Image           string          `yaml:"image"`
		Command         []string        `yaml:"command"`
		Args            []string        `yaml:"args"`
		EnvFrom         []yaml.MapSlice `yaml:"envFrom,omitempty"`
		Ports           []yaml.MapSlice `yaml:"ports,omitempty"`
		Resources       yaml.MapSlice   `yaml:"resources"`
		SecurityContext yaml.MapSlice   `yaml:"securityContext"`
		VolumeMounts    []yaml.MapSlice `yaml:"volumeMounts"`
		StartupProbe    yaml.MapSlice   `yaml:"startupProbe,omitempty"`
		LivenessProbe   yaml.MapSlice   `yaml:"livenessProbe,omitempty"`
		ReadinessProbe  yaml.MapSlice   `yaml:"readinessProbe,omitempty"`
	}
)

// kv is an ordered mapping from alternating keys and values.
func kv(pairs ...any) yaml.MapSlice {
	m := make(yaml.MapSlice, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		m = append(m, yaml.MapItem{Key: pairs[i], Value: pairs[i+1]})
	}
	return m
}

func (p *k8sPlan) meta(name string) k8sMeta {
	return k8sMeta{Name: name, Namespace: p.o.namespace, Labels: p.labels()}
}

func (p *k8sPlan) labels() map[string]string {
	l := p.selector()
	if p.version != "" {
		l["app.kubernetes.io/version"] = p.version
	}
	return l
}

// selector is immutable on a Deployment, so it leaves out the version.
func (p *k8sPlan) selector() map[string]string {
	return map[string]string{"app.kubernetes.io/name": "syncbridge", "app.kubernetes.io/instance": p.o.name}
}

func (p *k8sPlan) objects() []k8sObject {
	objs := []k8sObject{{APIVersion: "v1", Kind: "ConfigMap", Metadata: p.meta(p.o.name + "-config"),
		Data: map[string]string{k8sConfigFile: string(p.src)}}}
	if p.stateDir != "" {
		objs = append(objs, k8sObject{APIVersion: "v1", Kind: "PersistentVolumeClaim", Metadata: p.meta(p.o.name + "-state"),
			Spec: kv("accessModes", []string{"ReadWriteOnce"}, "resources", kv("requests", kv("storage", k8sStateSize)))})
	}
	if p.o.mode == "cronjob" {
		return append(objs, p.cronJob())
	}
	objs = append(objs, p.deployment())
	if p.port != 0 {
		objs = append(objs, p.service())
	}
	return objs
}

func (p *k8sPlan) cronJob() k8sObject {
	pod := p.podTemplate("Never", []string{"run", "--once", "-c", k8sConfigPath})
	// Exit 2 is a configuration error: retrying cannot fix it.
	noRetry := kv("rules", []yaml.MapSlice{kv("action", "FailJob",
		"onExitCodes", kv("containerName", "syncbridge", "operator", "In", "values", []int{ExitUsage}))})
	return k8sObject{APIVersion: "batch/v1", Kind: "CronJob", Metadata: p.meta(p.o.name), Spec: kv(
		"schedule", p.o.schedule,
		"concurrencyPolicy", "Forbid", // the lease refuses a second run anyway; this avoids starting it
		"startingDeadlineSeconds", 120, // a missed run is skipped: the next one catches up
		"successfulJobsHistoryLimit", 3,
		"failedJobsHistoryLimit", 3,
		"jobTemplate", kv("metadata", k8sMeta{Labels: p.labels()},
			"spec", kv("backoffLimit", 2, "podFailurePolicy", noRetry, "template", pod)),
	)}
}

func (p *k8sPlan) deployment() k8sObject {
	pod := p.podTemplate("Always", []string{"run", "-c", k8sConfigPath})
	sum := sha256.Sum256(p.src)
	pod.Metadata.Annotations = map[string]string{"checksum/config": hex.EncodeToString(sum[:])} // a new config rolls the pod
	return k8sObject{APIVersion: "apps/v1", Kind: "Deployment", Metadata: p.meta(p.o.name), Spec: kv(
		"replicas", 1,
		"strategy", kv("type", "Recreate"), // never two instances, even during a rollout
		"selector", kv("matchLabels", p.selector()),
		"template", pod,
	)}
}

func (p *k8sPlan) service() k8sObject {
	m := p.meta(p.o.name)
	m.Annotations = map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": strconv.Itoa(p.port),
		"prometheus.io/path": "/metrics"}
	return k8sObject{APIVersion: "v1", Kind: "Service", Metadata: m, Spec: kv(
		"selector", p.selector(),
		"ports", []yaml.MapSlice{kv("name", "http", "port", p.port, "targetPort", "http")},
	)}
}

func (p *k8sPlan) podTemplate(restart string, args []string) k8sPodTemplate {
	c := k8sContainer{Name: "syncbridge", Image: p.o.image, Command: []string{"syncbridge"}, Args: args,
		Resources: kv("requests", kv("cpu", "100m", "memory", "128Mi"), "limits", kv("cpu", "1", "memory", "512Mi")),
		SecurityContext: kv("readOnlyRootFilesystem", true, "allowPrivilegeEscalation", false,
			"capabilities", kv("drop", []string{"ALL"})),
	}
	if p.envFrom {
		c.EnvFrom = []yaml.MapSlice{kv("secretRef", kv("name", p.o.secret))}
	}
	volumes := []yaml.MapSlice{kv("name", "config", "configMap", kv("name", p.o.name+"-config"))}
	cfgMount := kv("name", "config", "mountPath", k8sConfigDir, "readOnly", true)
	if p.mountFile {
		cfgMount = kv("name", "config", "mountPath", k8sConfigPath, "subPath", k8sConfigFile, "readOnly", true)
	}
	if p.stateDir != "" {
		volumes = append(volumes, kv("name", "state", "persistentVolumeClaim", kv("claimName", p.o.name+"-state")))
		c.VolumeMounts = append(c.VolumeMounts, kv("name", "state", "mountPath", p.stateDir))
	}
	c.VolumeMounts = append(c.VolumeMounts, cfgMount)
	if p.stateDir != "/tmp" {
		volumes = append(volumes, kv("name", "tmp", "emptyDir", kv()))
		c.VolumeMounts = append(c.VolumeMounts, kv("name", "tmp", "mountPath", "/tmp"))
	}
	if p.o.mode == "deployment" && p.port != 0 {
		c.Ports = []yaml.MapSlice{kv("name", "http", "containerPort", p.port)}
		probe := func(path string, failures int) yaml.MapSlice {
			return kv("httpGet", kv("path", path, "port", "http"), "periodSeconds", 10, "failureThreshold", failures)
		}
		// The listener starts once every store is reached: allow 5 minutes for that.
		c.StartupProbe, c.LivenessProbe, c.ReadinessProbe = probe("/healthz", 30), probe("/healthz", 3), probe("/readyz", 3)
	}
	return k8sPodTemplate{Metadata: k8sMeta{Labels: p.labels()}, Spec: k8sPodSpec{
		RestartPolicy: restart, TerminationGracePeriodSeconds: k8sGracePeriod, Containers: []k8sContainer{c}, Volumes: volumes,
		SecurityContext: kv("runAsNonRoot", true, "runAsUser", k8sUID, "runAsGroup", k8sUID, "fsGroup", k8sUID,
			"seccompProfile", kv("type", "RuntimeDefault")),
	}}
}
