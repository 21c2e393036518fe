// Package ui is berth's web dashboard, served by every controller at
// /ui/ on its HTTP API (--listen): the cluster at a glance and live, with
// nothing else to install.
//
// # What it serves
//
// The page is one HTML file, a style sheet and a script, embedded in the
// binary (assets/, go:embed): plain JavaScript without a library or a
// build step, so what runs in the browser is the file in this repository.
// Every string of the cluster (names, messages, check output, logs)
// reaches the page as text nodes, never as HTML, and the page's
// Content-Security-Policy allows scripts from the controller only.
//
//	GET  /ui/                           the page (and /ui/static/...)
//	GET  /ui/api/session                who is asking: may they act, does this controller's etcd user write objects
//	GET  /ui/api/stream                 server-sent events: a snapshot of every row, then the rows that change
//	GET  /ui/api/object/{kind}/{name}   an object's detail: its row, the object as YAML, its events
//	POST /ui/api/unit/{name}/{verb}     start, stop or restart a Unit
//	POST /ui/api/job/{name}/{verb}      deploy, undeploy, start or stop a Job on {"host": NAME}
//
// Logs come from the API's own /v1/logs (this host's containers); the page
// links to another host's dashboard for its containers.
//
// # Live, and cheap while nobody looks
//
// A hub keeps a model of the store (objects, statuses, hosts and their
// heartbeats, Jobs' bindings, events) in typed list-then-watch caches
// (store.Typed, one per feed in feeds.go, each value decoded once when its
// key changes; one that does not decode is not shown) and services from
// the controller's catalog.Reader. The
// caches start when the first browser connects and stop when the last
// one has been gone for half a minute. Every changed key marks the rows it
// changes (a Unit's status: that Unit and that host; a host going down:
// everything it runs); at most every 100 ms the hub builds those rows,
// encodes each once, and sends those whose encoding changed to every
// stream in one message. A browser that falls 64 messages behind is
// dropped and reconnects to a fresh snapshot. The page redraws at most
// once per animation frame. BENCHMARKS.md gives the server's time per
// page and per update with 1,000 Units on 100 hosts.
//
// # Access
//
// The API's access control runs first and is the same as for every other
// route: with --api-reads token the data needs the token (the page, which
// holds no data, is served to everyone so that it can ask for it). Actions
// are writes: they need the token when there is one, and come from
// loopback otherwise; besides, the dashboard takes them only as JSON from
// its own origin (no form of another site can post one), without a token
// only under a Host that is an address or localhost (no DNS rebinding),
// and only when this controller's etcd user may write objects
// (store.MayWrite: true on a single machine with the embedded etcd, false
// for a host whose etcd role writes its own keys only). Where it may not
// act, the page shows the applyctl command instead. Actions go through
// package goals, as applyctl's verbs do. An object's detail hides the
// values of environment variables and check headers from requests
// without the token.
package ui
