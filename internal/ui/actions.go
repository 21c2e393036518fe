package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	v1 "berth.dev/berth/api/v1"
	"berth.dev/berth/internal/goals"
	"berth.dev/berth/internal/store"
)

// actionDoc is what an action answers: applyctl's lines of what it did.
type actionDoc struct {
	Lines  []string `json:"lines"`
	Errors []string `json:"errors,omitempty"`
}

// jobActionBody is the body of a Job's action: the host it is about.
type jobActionBody struct {
	Host string `json:"host"`
}

// maxActionBody bounds an action's body: a host name.
const maxActionBody = 4 << 10

// allowAction refuses, with the answer written, an action this request
// may not take: one from another page, one the API's rules would not take
// (allowed reaches here only with the token, or from loopback without
// one), or one this controller's etcd user cannot write.
func (s *Server) allowAction(w http.ResponseWriter, r *http.Request) bool {
	if err := sameOrigin(r); err != nil {
		jsonError(w, http.StatusForbidden, err.Error())
		return false
	}
	if !s.mayWrite(r) {
		jsonError(w, http.StatusForbidden, "this request may not change objects: send the API token (or, without one, use the dashboard on a loopback address)")
		return false
	}
	ok, err := s.storeWritable(r.Context())
	if err != nil {
		jsonError(w, http.StatusServiceUnavailable, "etcd: "+err.Error())
		return false
	}
	if !ok {
		jsonError(w, http.StatusForbidden, "this controller's etcd user may not write objects: use applyctl as an operator")
		return false
	}
	return true
}

// unitAction is start, stop or restart of a Unit, as applyctl's.
func (s *Server) unitAction(w http.ResponseWriter, r *http.Request) {
	verb, ok := goals.ParseVerb(r.PathValue("verb"))
	if !ok {
		jsonError(w, http.StatusBadRequest, fmt.Sprintf("unknown action %q on a unit: use start, stop or restart", r.PathValue("verb")))
		return
	}
	name := r.PathValue("name")
	if !s.allowAction(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	res, err := goals.SetUnits(ctx, s.st, verb, []string{name}, s.now())
	if err != nil {
		s.actionError(w, err)
		return
	}
	s.opts.Log.Info("dashboard action", "action", verb, "unit", name, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, actionDoc{Lines: append(res.Lines(), res.MissingLines()...)})
}

// jobAction is deploy, undeploy, start or stop of a Job on one host.
func (s *Server) jobAction(w http.ResponseWriter, r *http.Request) {
	verb, name := r.PathValue("verb"), r.PathValue("name")
	switch verb {
	case "deploy", "undeploy", "start", "stop":
	default:
		jsonError(w, http.StatusBadRequest, fmt.Sprintf("unknown action %q on a job: use deploy, undeploy, start or stop", verb))
		return
	}
	if !s.allowAction(w, r) {
		return
	}
	var body jobActionBody
	dec := json.NewDecoder(io.LimitReader(r.Body, maxActionBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		jsonError(w, http.StatusBadRequest, "body: "+err.Error()+`: send {"host": "NAME"}`)
		return
	}
	if msg := v1.ValidHostName(body.Host); msg != "" {
		jsonError(w, http.StatusBadRequest, "host "+msg)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	hosts := []string{body.Host}
	var res store.ApplyResult
	var results []goals.HostResult
	var err error
	switch verb {
	case "deploy":
		res, results, err = goals.Deploy(ctx, s.st, name, nil, hosts, v1.GoalStart)
	case "undeploy":
		var placed map[string]bool
		if placed, err = goals.JobHosts(ctx, s.st, name); err == nil {
			res, results, err = goals.Undeploy(ctx, s.st, name, nil, hosts, false, placed)
		}
	default:
		res, results, err = goals.SetJobGoal(ctx, s.st, name, nil, goals.Verb(verb), hosts)
	}
	if err != nil {
		s.actionError(w, err)
		return
	}
	s.opts.Log.Info("dashboard action", "action", verb, "job", name, "host", body.Host, "remote", r.RemoteAddr)
	lines, errs := goals.JobLines(res.Object.(*v1.Job), results)
	writeJSON(w, http.StatusOK, actionDoc{Lines: lines, Errors: errs})
}

// actionError answers the error of a store call as applyctl would say it.
func (s *Server) actionError(w http.ResponseWriter, err error) {
	var nf *goals.NotFoundError
	msg := strings.ReplaceAll(err.Error(), "store: ", "")
	switch {
	case errors.As(err, &nf):
		jsonError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrPermissionDenied):
		jsonError(w, http.StatusForbidden, "etcd refused: the roles of this controller's etcd user do not allow it ("+msg+")")
	case errors.Is(err, store.ErrConflict):
		jsonError(w, http.StatusConflict, msg+"; try again")
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		jsonError(w, http.StatusServiceUnavailable, "etcd unavailable: "+msg)
	default:
		jsonError(w, http.StatusBadRequest, err.Error())
	}
}
