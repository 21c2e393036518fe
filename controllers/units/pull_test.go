package units

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/runtime/fake"
	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/testenv"
)

const registryHost = "registry.test:5000"

// pullEnv is a controller whose fake registry asks for user berth's
// password, with its --registry-config and secrets directory in a
// temporary directory, its events and its log kept.
type pullEnv struct {
	*env
	dir      string // holds config.json (the --registry-config) and secrets/
	events   *recorded
	logs     *testenv.Buffer
	password string
}

func newPullEnv(t *testing.T, mods ...func(*Options)) *pullEnv {
	t.Helper()
	p := &pullEnv{dir: t.TempDir(), events: &recorded{}, logs: &testenv.Buffer{}, password: "pw-" + t.Name()}
	if err := os.Mkdir(filepath.Join(p.dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	p.env = newEnv(t, append([]func(*Options){func(o *Options) {
		o.Events = p.events
		o.Log = slog.New(slog.NewTextHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o.Registry = Registry{Config: filepath.Join(p.dir, "config.json")}
		o.Policy.SecretsDir = filepath.Join(p.dir, "secrets")
	}}, mods...)...)
	p.rt.RequireAuth(registryHost, "berth", p.password)
	return p
}

// writeConfig writes a config.json with user berth and password for the
// registry at path (relative to dir).
func (p *pullEnv) writeConfig(path, password string) {
	p.t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte("berth:" + password))
	body := fmt.Sprintf(`{"auths": {"https://%s/v2/": {"auth": %q}}}`, registryHost, auth)
	if err := os.WriteFile(filepath.Join(p.dir, path), []byte(body), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

func pullUnit(name, image string, mod func(*v1.Unit)) *v1.Unit {
	return pinned(name, func(u *v1.Unit) {
		u.Spec.Container.Image = image
		u.Spec.Container.Ports = nil
		if mod != nil {
			mod(u)
		}
	})
}

// waitStatus waits until the status of name holds for ok.
func (e *env) waitStatus(name, what string, ok func(*v1.InstanceStatus) bool) *v1.InstanceStatus {
	e.t.Helper()
	var st *v1.InstanceStatus
	e.eventually(name+": "+what, func() (bool, string) {
		st = e.status(name)
		if st == nil {
			return false, "no status"
		}
		return ok(st), fmt.Sprintf("%s throttled %q: %s", st.State, st.Throttled, st.Message)
	})
	return st
}

// A Unit whose registry wants credentials is refused while
// --registry-config has none for it, says so as the issue words it, backs
// off, and runs once they are there, showing the digest it runs.
func TestPullWithCredentialsFromRegistryConfig(t *testing.T) {
	t.Parallel()
	p := newPullEnv(t)
	image := registryHost + "/app:1"
	digest := p.rt.AddRegistryImage(image)
	p.apply(pullUnit("app", image, nil))

	const want = "unauthorized: authentication required for " + registryHost + "/app (no credentials for this registry in --registry-config)"
	st := p.waitStatus("app", "refused for lack of credentials", func(st *v1.InstanceStatus) bool {
		return st.State == v1.StatePullingImage && st.Throttled == v1.ThrottleImagePullFailed && strings.HasPrefix(st.Message, want+"; pulling again in ")
	})
	if c := v1.FindCondition(st.Conditions, v1.ConditionReady); c == nil || c.Reason != v1.ReasonImagePullBackOff {
		t.Errorf("Ready = %+v, want reason %s", c, v1.ReasonImagePullBackOff)
	}
	if len(p.containers("app")) != 0 {
		t.Errorf("a container exists without its image")
	}
	// Retried with a delay that doubles: the message counts down from
	// the restart delay's doubles, and each failure is one event.
	p.eventually("a second refused pull", func() (bool, string) {
		return p.events.count("Unit/app Failed") >= 2, p.events.all()
	})

	p.writeConfig("config.json", p.password)
	st = p.waitState("app", v1.StateRunning)
	if want := registryHost + "/app@" + digest; st.ImageID != want {
		t.Errorf("imageID = %q, want %q", st.ImageID, want)
	}
	if st.Throttled != "" || st.Message != "" {
		t.Errorf("running with throttled %q, message %q", st.Throttled, st.Message)
	}
	if p.events.count("Unit/app Pulled") != 1 {
		t.Errorf("events: %s", p.events.all())
	}
}

// A wrong password is refused in the registry's words, naming where the
// credentials came from, and the password is in no status, event or log.
func TestPullWrongPasswordIsNeverShown(t *testing.T) {
	t.Parallel()
	p := newPullEnv(t)
	image := registryHost + "/app:1"
	p.rt.AddRegistryImage(image)
	wrong := "wrong-" + p.password
	p.writeConfig("config.json", wrong)
	p.apply(pullUnit("app", image, nil))
	want := "unauthorized: authentication required for " + registryHost + "/app (the registry refused the credentials of user berth for https://" + registryHost + "/v2/ in --registry-config " + filepath.Join(p.dir, "config.json") + ")"
	p.waitStatus("app", "refused", func(st *v1.InstanceStatus) bool { return strings.HasPrefix(st.Message, want) })
	p.eventually("a second refused pull", func() (bool, string) {
		return p.events.count("Unit/app Failed") >= 2, p.events.all()
	})
	for what, text := range map[string]string{"status": fmt.Sprintf("%+v", p.status("app")), "events": p.events.all(), "log": p.logs.String()} {
		if strings.Contains(text, wrong) || strings.Contains(text, base64.StdEncoding.EncodeToString([]byte("berth:"+wrong))) {
			t.Errorf("the %s shows the password:\n%s", what, text)
		}
	}
}

// imagePullSecret's file, in the secrets directory, is looked in first;
// one that does not parse fails the instance, naming the file.
func TestPullWithImagePullSecret(t *testing.T) {
	t.Parallel()
	p := newPullEnv(t)
	image := registryHost + "/app:1"
	p.rt.AddRegistryImage(image)
	p.writeConfig("config.json", "not-the-password")
	secret := func(u *v1.Unit) { u.Spec.Container.ImagePullSecret = &v1.ImagePullSecret{File: "regcred.json"} }
	if err := os.WriteFile(filepath.Join(p.dir, "secrets", "regcred.json"), []byte(`{"auths": {`), 0o600); err != nil {
		t.Fatal(err)
	}
	p.apply(pullUnit("app", image, secret))
	st := p.waitStatus("app", "refused for its secret", func(st *v1.InstanceStatus) bool { return st.State == v1.StateFailed })
	want := `host h cannot read imagePullSecret.file "regcred.json": not a Docker config.json: invalid JSON at byte 11: write the credentials as docker login does in ` + filepath.Join(p.dir, "secrets", "regcred.json")
	if c := v1.FindCondition(st.Conditions, v1.ConditionReady); st.Message != want || c == nil || c.Reason != v1.ReasonPullSecretUnavailable {
		t.Errorf("status %q (%+v), want %q with reason %s", st.Message, c, want, v1.ReasonPullSecretUnavailable)
	}
	p.writeConfig("secrets/regcred.json", p.password)
	p.reconciled("app") // a refusal is looked at again at the resync
	p.waitState("app", v1.StateRunning)
}

// While the image is pulled, the status is PULLING_IMAGE with its layers
// and bytes; a pull that does not end within the timeout fails naming
// the flag.
func TestPullProgressAndTimeout(t *testing.T) {
	t.Parallel()
	p := newPullEnv(t, func(o *Options) { o.Registry.PullTimeout = 300 * time.Millisecond })
	p.writeConfig("config.json", p.password)
	image := registryHost + "/big:1"
	p.rt.SetRegistryImage(image, fake.RegistryImage{Layers: []int64{10 << 20, 20 << 20}})
	release := p.rt.HoldPulls()
	defer release()
	p.apply(pullUnit("big", image, func(u *v1.Unit) { u.Spec.Restart.Delay = &v1.Duration{Duration: time.Hour} }))
	st := p.waitStatus("big", "pulling with progress", func(st *v1.InstanceStatus) bool {
		return st.State == v1.StatePullingImage && st.Pull != nil
	})
	if want := (v1.PullStatus{Layers: 2, BytesTotal: 30 << 20}); *st.Pull != want {
		t.Errorf("pull = %+v, want %+v", *st.Pull, want)
	}
	st = p.waitStatus("big", "timed out", func(st *v1.InstanceStatus) bool { return st.Throttled == v1.ThrottleImagePullFailed })
	if want := "pull of " + image + " did not finish within 300ms (controller --image-pull-timeout)"; !strings.HasPrefix(st.Message, want) || st.Pull != nil {
		t.Errorf("status %q, pull %+v; want %q and no progress", st.Message, st.Pull, want)
	}
}

// A digest reference runs, and the status shows it as the image ID.
func TestPullByDigest(t *testing.T) {
	t.Parallel()
	p := newPullEnv(t)
	p.writeConfig("config.json", p.password)
	digest := p.rt.AddRegistryImage(registryHost + "/app:1")
	image := registryHost + "/app@" + digest
	p.apply(pullUnit("app", image, nil))
	if st := p.waitState("app", v1.StateRunning); st.ImageID != image {
		t.Errorf("imageID = %q, want %q", st.ImageID, image)
	}
}

// pullPolicy Always pulls when a container is created, and only then: a
// running container stays when its tag moves, and its restart does not
// pull; IfNotPresent does not pull an image the engine has; Never fails
// without it.
func TestPullPolicies(t *testing.T) {
	t.Parallel()
	p := newPullEnv(t)
	p.writeConfig("config.json", p.password)
	image := registryHost + "/app:1"
	first := p.rt.AddRegistryImage(image)
	always := func(u *v1.Unit) { u.Spec.Container.PullPolicy = v1.PullAlways }
	p.apply(pullUnit("always", image, always))
	st := p.waitState("always", v1.StateRunning)
	if st.ImageID != registryHost+"/app@"+first {
		t.Fatalf("imageID = %q", st.ImageID)
	}
	second := p.rt.AddRegistryImage(image) // the tag moves
	id := st.ContainerID
	if err := p.rt.Exit(id, 1); err != nil {
		t.Fatal(err)
	}
	p.eventually("restarted", func() (bool, string) {
		st = p.status("always")
		return st.Restarts == 1 && st.State == v1.StateRunning, fmt.Sprintf("%d %s", st.Restarts, st.State)
	})
	if st.ContainerID != id || st.ImageID != registryHost+"/app@"+first || p.events.count("Unit/always Pulled") != 1 {
		t.Errorf("after a restart: container %s image %s, %d pulls; want %s, the first image, 1 pull", st.ContainerID, st.ImageID, p.events.count("Unit/always Pulled"), id)
	}
	// A new template recreates the container: Always pulls the moved tag.
	p.apply(pullUnit("always", image, func(u *v1.Unit) {
		always(u)
		u.Spec.Container.Env = []v1.EnvVar{{Name: "V", Value: "2"}}
	}))
	st = p.waitStatus("always", "recreated from the moved tag", func(st *v1.InstanceStatus) bool {
		return st.State == v1.StateRunning && st.ContainerID != id && st.ImageID != ""
	})
	if st.ImageID != registryHost+"/app@"+second {
		t.Errorf("recreated from %s, want the moved tag's %s", st.ImageID, second)
	}

	p.apply(pullUnit("present", image, nil)) // IfNotPresent
	p.waitState("present", v1.StateRunning)
	if n := p.events.count("Unit/present Pulled"); n != 0 {
		t.Errorf("IfNotPresent pulled an image the engine has (%d pulls)", n)
	}
	p.apply(pullUnit("never", registryHost+"/other:1", func(u *v1.Unit) { u.Spec.Container.PullPolicy = v1.PullNever }))
	st = p.waitStatus("never", "image missing", func(st *v1.InstanceStatus) bool { return st.Throttled == v1.ThrottleImageMissing })
	if !strings.Contains(st.Message, "pullPolicy is Never") {
		t.Errorf("message %q", st.Message)
	}
}

// ImagesInUse names the images of the instances placed here, and forgets
// those of Units deleted.
func TestImagesInUse(t *testing.T) {
	t.Parallel()
	p := newPullEnv(t)
	p.writeConfig("config.json", p.password)
	image := registryHost + "/app:1"
	p.rt.AddRegistryImage(image)
	u := pullUnit("app", image, nil)
	p.apply(u)
	p.waitState("app", v1.StateRunning)
	if got := p.c.ImagesInUse(); len(got) != 1 || got[0] != image {
		t.Errorf("ImagesInUse = %q, want [%s]", got, image)
	}
	if err := store.DeleteObject(context.Background(), p.s, v1.KindUnit, "app"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "image forgotten", func() (bool, string) {
		got := p.c.ImagesInUse()
		return len(got) == 0, fmt.Sprint(got)
	})
}
