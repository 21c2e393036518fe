package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"berth.dev/berth/internal/testenv"
)

// browser is a page of the dashboard in a real, headless Chromium, driven
// over the DevTools protocol.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string // http://host:port of the controller

	mu     sync.Mutex
	thrown []string // exceptions of the page's scripts, and security errors (CSP)
}

// requireChromium returns Debian's chromium, skipping the test without it
// (failing under CI=true).
func requireChromium(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	testenv.Require(t, err == nil, "chromium not found on PATH (Debian: apt-get install chromium; hack/deps.sh --test installs it)")
	return p
}

// openBrowser starts a headless Chromium (closed at cleanup) on the
// dashboard of the controller at base, and waits for its page to load.
func openBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path := requireChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the tests run as root
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, base: base}
	// The first action starts the browser, which lives as long as its
	// context: no timeout on it.
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source == "security") {
				b.mu.Lock()
				b.thrown = append(b.thrown, m.String())
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		<-done
		for _, e := range b.thrown {
			t.Errorf("the page said: %s", e)
		}
	})
	b.run("open the dashboard", chromedp.Navigate(base+"/ui/"))
	return b
}

// run runs chromedp actions, failing the test on an error.
func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise).
func eval[T any](b *browser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// text returns the text the page shows in the first element matching the
// CSS selector, "" when there is none.
func (b *browser) text(selector string) string {
	s, err := eval[string](b, fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e ? e.innerText : ""; })()`, jsString(selector)))
	if err != nil {
		return "error: " + err.Error()
	}
	return s
}

// waitText waits until the element matching selector shows every one of
// want.
func (b *browser) waitText(timeout time.Duration, what, selector string, want ...string) string {
	b.t.Helper()
	var got string
	eventually(b.t, timeout, what, func() (bool, string) {
		got = b.text(selector)
		for _, w := range want {
			if !strings.Contains(got, w) {
				return false, fmt.Sprintf("%s shows %q, want %q", selector, got, w)
			}
		}
		return true, ""
	})
	return got
}

// click clicks the element matching selector once it is there. The
// click is the DOM's (element.click()): the page redraws as the cluster
// changes, and a click through the protocol may land on an element the
// redraw has just replaced.
func (b *browser) click(what, selector string) {
	b.t.Helper()
	eventually(b.t, 10*time.Second, what, func() (bool, string) {
		ok, err := eval[bool](b, fmt.Sprintf(`(() => { const e = document.querySelector(%s); if (!e) return false; e.click(); return true; })()`, jsString(selector)))
		return err == nil && ok, fmt.Sprint("no ", selector, " ", err)
	})
}

// goTo follows a link of the page (a hash route): the page is not loaded
// again.
func (b *browser) goTo(route string) {
	b.t.Helper()
	if _, err := eval[string](b, fmt.Sprintf(`location.hash = %s`, jsString(route))); err != nil {
		b.t.Fatalf("browser: go to %s: %v", route, err)
	}
}

// mark sets a value in the page's window that a reload would lose.
func (b *browser) mark() {
	b.t.Helper()
	if _, err := eval[int](b, `window.berthTestMark = 42`); err != nil {
		b.t.Fatal(err)
	}
}

// notReloaded fails the test when the page was loaded again since mark.
func (b *browser) notReloaded(what string) {
	b.t.Helper()
	if v, err := eval[bool](b, `window.berthTestMark === 42`); err != nil || !v {
		b.t.Errorf("%s: the page was reloaded (mark %v, %v)", what, v, err)
	}
}

// screenshot writes the page as PNG into the test's artifact directory
// (go test -artifacts keeps it) and, when BERTH_SCREENSHOTS names a
// directory, there too (the README's pictures).
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	dirs := []string{b.t.ArtifactDir()}
	if d := os.Getenv("BERTH_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.t.Logf("screenshot %s.png in %s", name, strings.Join(dirs, " and "))
}

// accessible checks what a screen reader and a keyboard need of the page
// as it is: a name for every link and button, a label for every field, a
// caption and column headers for every table, and no image; and, at a
// phone's width, that nothing but a table's own scroller is wider than the
// screen.
func (b *browser) accessible(page string) {
	b.t.Helper()
	problems, err := eval[[]string](b, `(() => {
		const out = [];
		const name = (e) => (e.getAttribute("aria-label") || e.innerText || "").trim();
		for (const e of document.querySelectorAll("a, button")) if (!name(e)) out.push("unnamed " + e.outerHTML.slice(0, 80));
		for (const e of document.querySelectorAll("input, select")) {
			if (!(e.id && document.querySelector('label[for="' + e.id + '"]')) && !e.getAttribute("aria-label")) out.push("unlabelled " + e.outerHTML.slice(0, 80));
		}
		for (const t of document.querySelectorAll("table")) {
			if (!t.querySelector("caption")) out.push("a table without caption");
			for (const th of t.querySelectorAll("thead th")) if (th.getAttribute("scope") !== "col") out.push("a header without scope");
		}
		if (document.querySelectorAll("main img").length) out.push("an image");
		if (document.documentElement.scrollWidth > window.innerWidth + 1) out.push("the page is " + document.documentElement.scrollWidth + "px wide in a " + window.innerWidth + "px window");
		return out;
	})()`)
	if err != nil {
		b.t.Fatalf("%s: %v", page, err)
	}
	for _, p := range problems {
		b.t.Errorf("%s: %s", page, p)
	}
}

// unitRow is the selector of a Unit's row in the units table.
func unitRowSel(name string) string {
	return fmt.Sprintf(`tr[data-kind="unit"][data-name=%s]`, jsString(name))
}

// TestDashboard: the page, opened before anything is applied, shows
// Units as they are applied, a killed container's new state and restart
// count, a service turning red when its check fails, all without being
// loaded again; a Unit stopped from the page is stopped for applyctl;
// and names and messages are shown as text, never run.
func TestDashboard(t *testing.T) {
	requireChromium(t)
	volumes := t.TempDir()
	h := newUnitHost(t, controllerOpts{extra: []string{"--allowed-host-paths", volumes}}, false)
	b := openBrowser(t, "http://"+h.c.listen)
	b.waitText(30*time.Second, "the page is live", "#live", "Live")
	b.mark()
	b.goTo("/units")
	b.waitText(10*time.Second, "the units page", "main", "No units")

	web, db, svc := h.unit("web"), h.unit("db"), h.unit("websvc")
	state := filepath.Join(volumes, "web")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	hostile := `<img src=x onerror="window.berthXSS=1">`
	odd, oddSvc := h.unit("odd"), h.unit("oddsvc")
	h.apply(
		fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: %s, labels: {app: %s}}\nspec:\n  placement: {hosts: [%s]}\n  requires: [%s]\n%s",
			web, web, h.name, db,
			testapp(fmt.Sprintf("    args: [--unhealthy-file, /state/unhealthy]\n    ports: [{name: http, containerPort: 8080, hostPort: 0}]\n    volumes: [{hostPath: %s, containerPath: /state}]\n", state), "")),
		h.doc("db", testapp("", "")),
		fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Service\nmetadata: {name: %s}\nspec:\n  selector: {app: %s}\n  port: http\n  tags: [web]\n  checks: [{name: healthz, http: /healthz, interval: 1s}]\n", svc, web),
		// Names are DNS labels; descriptions and tags are what a hostile
		// manifest can put on the page.
		fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: %s}\nspec:\n  description: %s\n  placement: {hosts: [elsewhere]}\n  container: {image: %s}\n", odd, jsString(hostile), testImage),
		fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Service\nmetadata: {name: %s}\nspec:\n  selector: {app: none}\n  tags: [%s]\n", oddSvc, jsString("<script>berthXSS=2</script>")),
	)

	// Applied Units appear, and reach RUNNING, on the page that was open.
	b.waitText(60*time.Second, "web RUNNING on the units page", unitRowSel(web), "RUNNING", h.name)
	b.waitText(30*time.Second, "db RUNNING on the units page", unitRowSel(db), "RUNNING")
	b.notReloaded("applied units")
	b.goTo("/")
	b.waitText(30*time.Second, "the overview counts the units", "main", "RUNNING", "Every check passes")

	// A container killed in Docker: the page shows its restart, live.
	b.goTo("/units")
	b.waitText(10*time.Second, "web's restarts before the kill", unitRowSel(web)+" td.num", "0")
	first := h.waitRunning("web", 30*time.Second)
	mustDocker(t, "kill", first.ContainerID)
	b.waitText(60*time.Second, "web restarted once, RUNNING again", unitRowSel(web), "RUNNING", "1/1")
	b.waitText(10*time.Second, "web's restart count", unitRowSel(web)+" td.num", "1")
	b.notReloaded("the killed container")

	// A failing check turns the service red: critical, written out.
	b.goTo("/services")
	svcRow := fmt.Sprintf(`tr[data-kind="service"][data-name=%s]`, jsString(svc))
	b.waitText(60*time.Second, "the service passing", svcRow, "passing")
	if err := os.WriteFile(filepath.Join(state, "unhealthy"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.waitText(30*time.Second, "the service critical", svcRow, "critical")
	if cls, err := eval[string](b, fmt.Sprintf(`document.querySelector(%s).className`, jsString(svcRow))); err != nil || cls != "bad" {
		t.Errorf("the critical service's row has class %q (%v), want bad (red)", cls, err)
	}
	b.goTo("/services/" + svc)
	b.waitText(10*time.Second, "the check's output on the service page", "main", "critical", "healthz (http)", "503")
	b.screenshot("ui-service")
	b.notReloaded("the failing check")
	b.goTo("/hosts")
	b.waitText(10*time.Second, "the hosts page", "main", h.name, "UP")
	b.screenshot("ui-hosts")
	b.goTo("/")
	b.waitText(10*time.Second, "the overview shows the failing check", "main", "Failing checks", svc, "503")
	b.screenshot("ui-overview")
	b.goTo("/units/" + web)
	b.waitText(10*time.Second, "the unit page", "main", "unit/"+web, "137")
	b.screenshot("ui-unit")

	// What the cluster says is text on the page, never markup.
	b.goTo("/units/" + odd)
	b.waitText(10*time.Second, "the hostile description as text", "main", "unit/"+odd, hostile)
	b.goTo("/services")
	b.waitText(10*time.Second, "the hostile tag as text", fmt.Sprintf(`tr[data-kind="service"][data-name=%s]`, jsString(oddSvc)), "<script>berthXSS=2</script>")
	if xss, err := eval[bool](b, `window.berthXSS === undefined && typeof berthXSS === "undefined" && document.querySelectorAll("main img, main script").length === 0`); err != nil || !xss {
		t.Errorf("a hostile description or tag ran or made elements: %v %v", xss, err)
	}

	// Every page at a desktop's and at a phone's width.
	pages := []string{"/", "/hosts", "/hosts/" + h.name, "/units", "/units/" + web, "/jobs", "/services", "/services/" + svc, "/events", "/gitsources"}
	for _, width := range []int64{1280, 375} {
		b.run(fmt.Sprint("a window ", width, "px wide"), chromedp.EmulateViewport(width, 800))
		for _, p := range pages {
			b.goTo(p)
			b.waitText(10*time.Second, "page "+p, "main", "")
			b.accessible(fmt.Sprintf("%s at %dpx", p, width))
		}
	}
	b.goTo("/units/" + web)
	b.waitText(10*time.Second, "the unit page", "main", "Restart")
	b.screenshot("ui-unit-phone")
	b.run("a desktop's width again", chromedp.EmulateViewport(1280, 900))

	// The keyboard alone: Tab to Restart, Enter asks, Escape cancels.
	b.goTo("/units/" + db)
	b.waitText(10*time.Second, "db's page", "main", "Restart")
	gen := func() string {
		us, err := h.units()
		if err != nil {
			return err.Error()
		}
		return fmt.Sprint(us[db].Metadata.Annotations)
	}
	before := gen()
	focused := ""
	for i := 0; i < 80 && focused != "restart"; i++ {
		b.run("Tab", chromedp.KeyEvent(kb.Tab))
		focused, _ = eval[string](b, `document.activeElement && document.activeElement.dataset.action || ""`)
	}
	if focused != "restart" {
		t.Fatal("Tab never reached the Restart button")
	}
	b.run("Enter", chromedp.KeyEvent(kb.Enter))
	if open, err := eval[bool](b, `document.getElementById("confirm").open && document.activeElement.id === "confirm-cancel"`); err != nil || !open {
		t.Errorf("Enter on Restart: the confirmation is not open with the focus on Cancel (%v)", err)
	}
	b.run("Escape", chromedp.KeyEvent(kb.Escape))
	if open, err := eval[bool](b, `document.getElementById("confirm").open`); err != nil || open {
		t.Errorf("Escape left the confirmation open (%v)", err)
	}
	if after := gen(); after != before {
		t.Errorf("a cancelled restart changed db: %s -> %s", before, after)
	}

	// Its container's logs, followed on the page.
	b.goTo("/units/" + web)
	b.click("follow the logs", `button[data-key="logs"]`)
	b.waitText(30*time.Second, "web's logs on the page", "#logs", "/healthz")

	// A Job deployed to this host from its page, and undeployed.
	job := h.unit("nc")
	h.apply(fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Job\nmetadata: {name: %s}\nspec:\n  version: \"1\"\n  container: {image: %s}\n", job, testImage))
	b.goTo("/jobs/" + job)
	b.waitText(10*time.Second, "the job page", "main", "Deploy to host")
	b.run("choose this host", chromedp.SetValue(chromedp.CSS(`#deploy-host`), h.name))
	b.click("deploy", `button[data-key="deploy"]`)
	b.run("the confirmation", chromedp.WaitVisible(chromedp.CSS(`#confirm-ok`)))
	b.click("confirm", `#confirm-ok`)
	b.waitText(10*time.Second, "what the deploy did", "#notice", "job/"+job+" deployed to "+h.name)
	b.waitText(60*time.Second, "the job running here", "main", "RUNNING")
	b.click("undeploy", `button[data-action="undeploy"]`)
	b.run("the confirmation", chromedp.WaitVisible(chromedp.CSS(`#confirm-ok`)))
	b.click("confirm", `#confirm-ok`)
	b.waitText(10*time.Second, "what the undeploy did", "#notice", "job/"+job+" undeployed from "+h.name)
	eventually(t, 60*time.Second, "applyctl shows the job deployed nowhere", func() (bool, string) {
		out, errOut, code := applyctl(t, h.etcd, "", "get", "job", job, "-o", "json")
		return code == 0 && !strings.Contains(out, `"deployments"`), out + errOut
	})

	// Stop the Unit from its page: confirm, and applyctl sees it stopped.
	b.goTo("/units/" + web)
	b.waitText(10*time.Second, "the stop button", "main", "Stop")
	b.click("open the spec", `main details summary`)
	b.waitText(10*time.Second, "the spec", "main details pre", "goal: start")
	b.click("stop web", `button[data-action="stop"]`)
	b.run("the confirmation", chromedp.WaitVisible(chromedp.CSS(`#confirm-ok`)))
	b.waitText(5*time.Second, "the confirmation names the command", "#confirm", "applyctl stop unit "+web)
	b.click("confirm", `#confirm-ok`)
	b.waitText(10*time.Second, "what the action did", "#notice", "unit/"+web+" stopped")
	eventually(t, 60*time.Second, "applyctl get units shows web STOPPED", func() (bool, string) {
		out, errOut, code := applyctl(t, h.etcd, "", "get", "units")
		row := tableRow(out, web)
		return code == 0 && len(row) > 2 && row[2] == "STOPPED", out + errOut
	})
	b.waitText(30*time.Second, "the unit page shows it stopped", "main", "STOPPED")
	b.waitText(10*time.Second, "the spec, still open, says goal stop", "main details[open] pre", "goal: stop")
	b.notReloaded("the stop")
}

// TestDashboardToken: with --api-reads token the page asks for the token
// and shows nothing of the cluster before it gets it; with a token and
// open reads it shows the cluster but offers no action, only the applyctl
// commands, until it is given the token.
func TestDashboardToken(t *testing.T) {
	requireChromium(t)
	const token = "s3cret-dashboard-token"
	tokenFile := writeFile(t, "api-token", token+"\n")

	h := newUnitHost(t, controllerOpts{extra: []string{"--api-token-file", tokenFile, "--api-reads", "token"}}, false)
	h.apply(h.doc("secretive", testapp("", "")))
	b := openBrowser(t, "http://"+h.c.listen)
	b.waitText(30*time.Second, "the login prompt", "main", "Sign in", "API token")
	if got := b.text("main"); strings.Contains(got, h.unit("secretive")) || strings.Contains(got, h.name) {
		t.Errorf("the page shows the cluster without the token: %q", got)
	}
	status, err := eval[int](b, `fetch("api/stream").then(r => r.status)`)
	if err != nil {
		t.Fatal(err)
	}
	if status != 403 {
		t.Errorf("the stream without the token answered %v, want 403", status)
	}
	b.screenshot("ui-login")
	b.run("a wrong token", chromedp.SendKeys(chromedp.CSS(`#token`), "wrong"))
	b.click("sign in", `form.login button[type="submit"]`)
	b.waitText(10*time.Second, "the wrong token refused", "main", "That token was refused")
	b.run("the token", chromedp.SendKeys(chromedp.CSS(`#token`), token))
	b.click("sign in", `form.login button[type="submit"]`)
	b.waitText(30*time.Second, "the page live with the token", "#live", "Live")
	b.goTo("/units/" + h.unit("secretive"))
	b.waitText(60*time.Second, "the unit with the token", "main", "RUNNING", "Stop")

	// Reads open, writes need the token: commands instead of buttons.
	o := startController(t, controllerOpts{name: "e2e-u-" + randomSuffix(6), extra: []string{"--api-token-file", tokenFile}})
	o.waitReadyForUI(t)
	unit := "ro" + randomSuffix(6)
	if _, errOut, code := applyctl(t, o.etcd, fmt.Sprintf("apiVersion: berth.dev/v1\nkind: Unit\nmetadata: {name: %s}\nspec:\n  placement: {hosts: [nowhere]}\n  container: {image: %s}\n", unit, testImage), "apply", "-f", "-"); code != 0 {
		t.Fatal(errOut)
	}
	r := openBrowser(t, "http://"+o.listen)
	r.waitText(30*time.Second, "the page live without a token", "#live", "Live")
	r.goTo("/units/" + unit)
	got := r.waitText(30*time.Second, "the commands instead of actions", "main", "applyctl stop unit "+unit, "Actions need the API token")
	if buttons, err := eval[int](r, `document.querySelectorAll("button[data-action]").length`); err != nil || buttons != 0 {
		t.Errorf("%d action buttons without the token (%v): %s", buttons, err, got)
	}
	if code, err := eval[int](r, fmt.Sprintf(`fetch("api/unit/%s/stop", {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"}).then(r => r.status)`, unit)); err != nil || code != 403 {
		t.Errorf("a stop posted without the token answered %v (%v), want 403", code, err)
	}
	r.waitText(5*time.Second, "the sign-in button", "#auth", "Sign in to act")
}

// waitReadyForUI waits until the dashboard's page is served (it is from
// the moment etcd answers).
func (c *controller) waitReadyForUI(t *testing.T) {
	t.Helper()
	eventually(t, 30*time.Second, "the dashboard served", func() (bool, string) {
		code, body := httpGet("http://" + c.listen + "/ui/")
		return code == 200, fmt.Sprint(code, body)
	})
}
