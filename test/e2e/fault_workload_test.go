package e2e

import (
	"fmt"
	"strings"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/store"
)

// faultWorkload is what the fault test runs on its hosts: groups of four
// Units that depend on each other, a Service over the api Units, and a
// Job on every host whose versions the test rolls out one after another.
//
// In each group:
//
//	db      1 replica, health-checked
//	api     2 replicas, health-checked, requires db (healthy)
//	web     1 replica, requires api (started)
//	worker  1 replica, wants db, after api
//
// Every container publishes its port on the bridge address of the rig,
// where the controllers in their namespaces reach it for health checks.
type faultWorkload struct {
	prefix  string // of every name
	label   string // hosts' fault=<label>
	hostIP  string // ports are published on it
	groups  int
	version int          // the Job's current version
	stopped map[int]bool // groups whose db has goal stop
}

// The roles of a group's Units, in the order of their indexes.
var faultRoles = []string{"db", "api", "web", "worker"}

func newFaultWorkload(prefix, label, hostIP string, groups int) *faultWorkload {
	return &faultWorkload{prefix: prefix, label: label, hostIP: hostIP, groups: groups, version: 1, stopped: map[int]bool{}}
}

// unit returns the name of Unit i: group i/4, role i%4.
func (w *faultWorkload) unit(i int) string {
	return fmt.Sprintf("%s-g%d-%s", w.prefix, i/len(faultRoles), faultRoles[i%len(faultRoles)])
}

func (w *faultWorkload) groupUnit(g int, role string) string {
	return fmt.Sprintf("%s-g%d-%s", w.prefix, g, role)
}

// units returns the names of every Unit, by index.
func (w *faultWorkload) units() []string {
	var out []string
	for i := range w.groups * len(faultRoles) {
		out = append(out, w.unit(i))
	}
	return out
}

func (w *faultWorkload) job() string     { return w.prefix + "-roll" }
func (w *faultWorkload) service() string { return w.prefix + "-api" }

// replicas returns how many instances Unit name has.
func (w *faultWorkload) replicas(name string) int {
	if strings.HasSuffix(name, "-api") {
		return 2
	}
	return 1
}

// requires maps every Unit to the Units it requires.
func (w *faultWorkload) requires() map[string][]string {
	m := map[string][]string{}
	for g := range w.groups {
		m[w.groupUnit(g, "api")] = []string{w.groupUnit(g, "db")}
		m[w.groupUnit(g, "web")] = []string{w.groupUnit(g, "api")}
	}
	return m
}

// healthChecked reports whether Unit name has a health check.
func (w *faultWorkload) healthChecked(name string) bool {
	return strings.HasSuffix(name, "-db") || strings.HasSuffix(name, "-api")
}

const faultHealthCheck = "    healthCheck: {http: {path: /healthz, port: http}, interval: 1s, timeout: 1s, retries: 2}\n"

// unitDoc returns Unit i's manifest with its current goal.
func (w *faultWorkload) unitDoc(i int) string {
	name := w.unit(i)
	g, role := i/len(faultRoles), faultRoles[i%len(faultRoles)]
	goal := v1.GoalStart
	if role == "db" && w.stopped[g] {
		goal = v1.GoalStop
	}
	var deps string
	switch role {
	case "api":
		deps = fmt.Sprintf("  requires: [%[1]s]\n  startCondition: {%[1]s: healthy}\n", w.groupUnit(g, "db"))
	case "web":
		deps = fmt.Sprintf("  requires: [%s]\n", w.groupUnit(g, "api"))
	case "worker":
		deps = fmt.Sprintf("  wants: [%s]\n  after: [%s]\n", w.groupUnit(g, "db"), w.groupUnit(g, "api"))
	}
	check := ""
	if w.healthChecked(name) {
		check = faultHealthCheck
	}
	return fmt.Sprintf(`apiVersion: berth.dev/v1
kind: Unit
metadata: {name: %s, labels: {fault: %s, tier: %s}}
spec:
  goal: %s
  placement: {hostSelector: {fault: %s}, replicas: %d}
  restart: {delay: 1s, maxDelay: 8s}
%s  container:
    image: %s
    ports: [{name: http, containerPort: 8080, hostIP: %s}]
%s`, name, w.label, role, goal, w.label, w.replicas(name), deps, testImage, w.hostIP, check)
}

// serviceDoc is the Service over every api Unit.
func (w *faultWorkload) serviceDoc() string {
	return fmt.Sprintf(`apiVersion: berth.dev/v1
kind: Service
metadata: {name: %s}
spec:
  selector: {fault: %s, tier: api}
  port: http
`, w.service(), w.label)
}

// jobDoc returns the Job's manifest at its current version.
func (w *faultWorkload) jobDoc() string {
	return fmt.Sprintf(`apiVersion: berth.dev/v1
kind: Job
metadata: {name: %s}
spec:
  version: "%d"
  hostSelector: {fault: %s}
  rollout: {parallelism: 1, timeout: 30s, onFailure: continue}
  container:
    image: %s
    env: [{name: MESSAGE, value: v%d}]
    ports: [{name: http, containerPort: 8080, hostIP: %s}]
%s`, w.job(), w.version, w.label, testImage, w.version, w.hostIP, faultHealthCheck)
}

// all returns every manifest, joined for one apply.
func (w *faultWorkload) all() string {
	var docs []string
	for i := range w.groups * len(faultRoles) {
		docs = append(docs, w.unitDoc(i))
	}
	docs = append(docs, w.serviceDoc(), w.jobDoc())
	return strings.Join(docs, "---\n")
}

// objectKeys are the keys of the objects the test applies (the Job's
// version records apart).
func (w *faultWorkload) objectKeys() []string {
	var keys []string
	for _, u := range w.units() {
		keys = append(keys, store.ObjectKey(v1.KindUnit, u))
	}
	return append(keys, store.ObjectKey(v1.KindService, w.service()), store.ObjectKey(v1.KindJob, w.job()))
}
