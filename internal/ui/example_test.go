package ui_test

import (
	"context"
	"log"
	"net/http"

	"berth.dev/berth/internal/store"
	"berth.dev/berth/internal/ui"
)

// The dashboard on a mux of its own, with reads open and writes from
// loopback only: the controller mounts it behind its API's access
// control instead, which decides MayWrite.
func ExampleNew() {
	ctx := context.Background()
	st, err := store.New(ctx, store.Config{Endpoints: []string{"http://127.0.0.1:2379"}})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	dash := ui.New(st, ui.Options{Host: "host-a", MayWrite: func(*http.Request) bool { return false }})
	go func() { _ = dash.Run(ctx) }()
	mux := http.NewServeMux()
	mux.Handle(ui.Path, dash)
	srv := &http.Server{Addr: "127.0.0.1:8500", Handler: mux}
	srv.RegisterOnShutdown(dash.CloseStreams)
	log.Fatal(srv.ListenAndServe())
}
