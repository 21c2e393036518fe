package main

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

//go:embed index.html
var assets embed.FS

var page = template.Must(template.ParseFS(assets, "index.html"))

// MaxTitle is the longest title accepted, in characters.
const MaxTitle = 500

// NewServer returns the application's handler over store.
func NewServer(store *Store) http.Handler {
	s := &server{store: store}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("POST /add", s.formAdd)
	mux.HandleFunc("POST /toggle/{id}", s.formToggle)
	mux.HandleFunc("POST /delete/{id}", s.formDelete)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /api/todos", s.apiList)
	mux.HandleFunc("POST /api/todos", s.apiCreate)
	mux.HandleFunc("GET /api/todos/{id}", s.apiGet)
	mux.HandleFunc("PATCH /api/todos/{id}", s.apiUpdate)
	mux.HandleFunc("DELETE /api/todos/{id}", s.apiDelete)
	return logRequests(mux)
}

type server struct {
	store *Store
}

// validTitle trims title and checks it, returning a message when it is bad.
func validTitle(title string) (string, string) {
	title = strings.TrimSpace(title)
	switch {
	case title == "":
		return "", "title must not be empty"
	case utf8.RuneCountInString(title) > MaxTitle:
		return "", fmt.Sprintf("title must be at most %d characters", MaxTitle)
	}
	return title, ""
}

// --- the page ---

func (s *server) index(w http.ResponseWriter, r *http.Request) {
	items := s.store.List()
	left := 0
	for _, it := range items {
		if !it.Done {
			left++
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	data := struct {
		Items []Item
		Left  int
		Error string
	}{items, left, r.URL.Query().Get("error")}
	if err := page.Execute(w, data); err != nil {
		log.Printf("render: %v", err)
	}
}

func (s *server) formAdd(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	title, msg := validTitle(r.FormValue("title"))
	if msg != "" {
		http.Redirect(w, r, "/?error="+url.QueryEscape(msg), http.StatusSeeOther)
		return
	}
	if _, err := s.store.Add(title); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *server) formToggle(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, false)
	if !ok {
		return
	}
	var done *bool
	for _, it := range s.store.List() {
		if it.ID == id {
			d := !it.Done
			done = &d
		}
	}
	if done == nil {
		http.Error(w, ErrNotFound.Error(), http.StatusNotFound)
		return
	}
	if _, err := s.store.Update(id, nil, done); err != nil {
		storeError(w, err, false)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *server) formDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, false)
	if !ok {
		return
	}
	if err := s.store.Delete(id); err != nil {
		storeError(w, err, false)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// --- the JSON API ---

func (s *server) apiList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.store.List())
}

func (s *server) apiGet(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, true)
	if !ok {
		return
	}
	for _, it := range s.store.List() {
		if it.ID == id {
			writeJSON(w, http.StatusOK, it)
			return
		}
	}
	jsonError(w, http.StatusNotFound, ErrNotFound.Error())
}

func (s *server) apiCreate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Title *string `json:"title"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if in.Title == nil {
		jsonError(w, http.StatusBadRequest, "title is required")
		return
	}
	title, msg := validTitle(*in.Title)
	if msg != "" {
		jsonError(w, http.StatusBadRequest, msg)
		return
	}
	it, err := s.store.Add(title)
	if err != nil {
		storeError(w, err, true)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/todos/%d", it.ID))
	writeJSON(w, http.StatusCreated, it)
}

func (s *server) apiUpdate(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, true)
	if !ok {
		return
	}
	var in struct {
		Title *string `json:"title"`
		Done  *bool   `json:"done"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if in.Title == nil && in.Done == nil {
		jsonError(w, http.StatusBadRequest, `nothing to change: send "done" and/or "title"`)
		return
	}
	if in.Title != nil {
		title, msg := validTitle(*in.Title)
		if msg != "" {
			jsonError(w, http.StatusBadRequest, msg)
			return
		}
		in.Title = &title
	}
	it, err := s.store.Update(id, in.Title, in.Done)
	if err != nil {
		storeError(w, err, true)
		return
	}
	writeJSON(w, http.StatusOK, it)
}

func (s *server) apiDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, true)
	if !ok {
		return
	}
	if err := s.store.Delete(id); err != nil {
		storeError(w, err, true)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// --- helpers ---

func pathID(w http.ResponseWriter, r *http.Request, asJSON bool) (int, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id <= 0 {
		msg := fmt.Sprintf("bad id %q: want a positive integer", r.PathValue("id"))
		if asJSON {
			jsonError(w, http.StatusBadRequest, msg)
		} else {
			http.Error(w, msg, http.StatusBadRequest)
		}
		return 0, false
	}
	return id, true
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := "bad JSON body: " + err.Error()
		if errors.Is(err, io.EOF) {
			msg = "empty body: want a JSON object"
		}
		jsonError(w, http.StatusBadRequest, msg)
		return false
	}
	if dec.More() {
		jsonError(w, http.StatusBadRequest, "bad JSON body: more than one value")
		return false
	}
	return true
}

func storeError(w http.ResponseWriter, err error, asJSON bool) {
	code := http.StatusInternalServerError
	if errors.Is(err, ErrNotFound) {
		code = http.StatusNotFound
	} else {
		log.Printf("store: %v", err)
	}
	if asJSON {
		jsonError(w, code, err.Error())
	} else {
		http.Error(w, err.Error(), code)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// logRequests prints one line per request, except health checks.
func logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		if r.URL.Path != "/healthz" {
			log.Printf("%s %s %s %d", r.RemoteAddr, r.Method, r.URL.Path, sw.code)
		}
	})
}
