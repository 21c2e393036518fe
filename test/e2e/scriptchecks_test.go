package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"
)

// TestAgentScriptChecks drives two controllers with the real Consul
// client. Script checks registered through the agent API are refused in
// Consul's words by default, and with --enable-script-checks run only in
// the host's own berth containers: a container berth did not create
// never gets an exec, and its environment never shows up in a check's
// output. Checks a Unit declares for itself (healthCheck.exec,
// SERVICE_CHECK_SCRIPT) run either way.
func TestAgentScriptChecks(t *testing.T) {
	t.Parallel()
	since := strconv.FormatInt(time.Now().Unix(), 10)
	h := newDiscoveryHost(t, controllerOpts{})
	secret := "foreign-" + h.sfx
	foreign := runPlain(t, "e2e-sc-"+h.sfx+"-foreign", "-e", "SECRET="+secret, testImage)

	// The Unit's own checks run in its container, script checks off.
	svc := "own-" + h.sfx
	h.apply(h.doc("own", testapp(
		"    env:\n    - {name: SECRET, value: unit-"+h.sfx+"}\n    - {name: SERVICE_NAME, value: "+svc+"}\n"+
			"    - {name: SERVICE_CHECK_SCRIPT, value: /testapp env SECRET}\n    - {name: SERVICE_CHECK_INTERVAL, value: 1s}\n"+
			"    ports: [{name: http, containerPort: 8080}]\n"+
			"    healthCheck: {exec: {command: [/testapp, echo, healthy]}, interval: 1s, timeout: 2s, retries: 2}\n", "")))
	own := h.waitRunning("own", 30*time.Second)
	cl := h.c.consulClient(nil)
	eventually(t, 15*time.Second, "the Unit's SERVICE_CHECK_SCRIPT passing in its own container", func() (bool, string) {
		c, last := serviceCheck(cl, svc, h.name)
		return c != nil && c.Status == consul.HealthPassing && c.Output == "unit-"+h.sfx, last
	})

	for _, target := range []string{foreign, own.ContainerID} {
		err := cl.Agent().ServiceRegister(&consul.AgentServiceRegistration{ID: "probe-" + h.sfx, Name: "probe-" + h.sfx,
			Check: &consul.AgentServiceCheck{Args: []string{"/testapp", "env", "SECRET"}, DockerContainerID: target, Interval: "1s"}})
		var se consul.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusForbidden ||
			!strings.Contains(err.Error(), "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true") {
			t.Errorf("script check in %.12s with script checks off: %v; want 403 in Consul's words", target, err)
		}
	}
	if err := cl.Agent().ServiceRegister(&consul.AgentServiceRegistration{ID: "probe-" + h.sfx, Name: "probe-" + h.sfx}); err != nil {
		t.Fatalf("plain registration: %v", err)
	}
	err := cl.Agent().CheckRegister(&consul.AgentCheckRegistration{Name: "late", ServiceID: "probe-" + h.sfx,
		AgentServiceCheck: consul.AgentServiceCheck{Args: []string{"/testapp", "env", "SECRET"}, DockerContainerID: foreign, Interval: "1s"}})
	if err == nil || !strings.Contains(err.Error(), "Scripts are disabled") {
		t.Errorf("check/register of a script check with script checks off: %v", err)
	}

	// With --enable-script-checks: only this host's berth containers.
	h2 := newDiscoveryHost(t, controllerOpts{extra: []string{"--enable-script-checks"}})
	h2.apply(h2.doc("target", testapp("    env:\n    - {name: SECRET, value: target-"+h2.sfx+"}\n", "")))
	target := h2.waitRunning("target", 30*time.Second)
	cl2 := h2.c.consulClient(nil)
	for _, tc := range []struct{ name, container, says string }{
		{"a container berth did not create", foreign, "not a container berth runs on this host"},
		{"the same, by name", "e2e-sc-" + h.sfx + "-foreign", "not a container berth runs on this host"},
		{"another host's berth container", own.ContainerID, "not a container berth runs on this host"},
	} {
		err := cl2.Agent().ServiceRegister(&consul.AgentServiceRegistration{ID: "bad-" + h2.sfx, Name: "bad-" + h2.sfx,
			Check: &consul.AgentServiceCheck{Args: []string{"/testapp", "env", "SECRET"}, DockerContainerID: tc.container, Interval: "1s"}})
		var se consul.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusForbidden || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v; want 403 saying %q", tc.name, err, tc.says)
		}
	}
	ok := consul.AgentServiceRegistration{ID: "ok-" + h2.sfx, Name: "ok-" + h2.sfx,
		Check: &consul.AgentServiceCheck{CheckID: "ok-" + h2.sfx, Args: []string{"/testapp", "env", "SECRET"}, DockerContainerID: target.ContainerID, Interval: "1s"}}
	if err := cl2.Agent().ServiceRegister(&ok); err != nil {
		t.Fatalf("script check in this host's Unit container: %v", err)
	}
	eventually(t, 15*time.Second, "the script check in the Unit's container passing, its output read back", func() (bool, string) {
		checks, err := cl2.Agent().Checks()
		if err != nil {
			return false, err.Error()
		}
		c := checks["ok-"+h2.sfx]
		if c == nil {
			return false, fmt.Sprint(checks)
		}
		return c.Status == consul.HealthPassing && c.Output == "target-"+h2.sfx, c.Status + " " + c.Output
	})

	for _, c := range []*consul.Client{cl, cl2} {
		checks, err := c.Agent().Checks()
		if err != nil {
			t.Fatal(err)
		}
		for id, chk := range checks {
			if strings.Contains(chk.Output, secret) {
				t.Errorf("check %s shows the foreign container's environment: %q", id, chk.Output)
			}
		}
	}
	// The engine's own record: no exec ever ran in the foreign container.
	events := mustDocker(t, "events", "--since", since, "--until", strconv.FormatInt(time.Now().Unix()+1, 10),
		"--filter", "container="+foreign, "--format", "{{.Action}}")
	if strings.Contains(events, "exec_") {
		t.Errorf("the container berth did not create got execs:\n%s", events)
	}
	if events := mustDocker(t, "events", "--since", since, "--until", strconv.FormatInt(time.Now().Unix()+1, 10),
		"--filter", "container="+target.ContainerID, "--format", "{{.Action}}"); !strings.Contains(events, "exec_start") {
		t.Errorf("the Unit's container shows no exec in the engine's events:\n%s", events)
	}
}
