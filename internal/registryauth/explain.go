package registryauth

import (
	"errors"
	"strings"

	"github.com/distribution/reference"

	"berth.dev/berth/internal/runtime"
)

// Choose returns the credential for image from the first of keys that has
// an entry for its registry (nil Keys are skipped).
func Choose(image string, keys ...*Keys) (Credential, bool) {
	for _, k := range keys {
		if c, ok := k.Lookup(image); ok {
			return c, true
		}
	}
	return Credential{}, false
}

// pullError is a failed pull's error as Explain words it; it wraps the
// runtime's error.
type pullError struct {
	msg string
	err error
}

func (e *pullError) Error() string { return e.msg }
func (e *pullError) Unwrap() error { return e.err }

// Explain words a failed pull of image for an operator, in the registry's
// words and with what to do, and wraps err:
//
//   - refused without credentials: "unauthorized: authentication required
//     for 127.0.0.1:5000/app (no credentials for this registry in
//     --registry-config)", naming every source looked in, and a credential
//     helper that berth does not run when one serves the registry;
//   - refused with credentials: "... (the registry refused the credentials
//     of user berth for 127.0.0.1:5000 in --registry-config
//     /root/.docker/config.json)";
//   - no such tag or digest: "manifest unknown: tag 1.2 not found in
//     127.0.0.1:5000/app".
//
// Any other error is returned as it is. searched are the sources looked
// in, in order; cred and found are what Choose returned of them.
func Explain(image string, cred Credential, found bool, searched []*Keys, err error) error {
	if err == nil {
		return nil
	}
	n, perr := reference.ParseNormalizedNamed(image)
	if perr != nil {
		return err
	}
	repo := reference.FamiliarName(n)
	switch {
	case errors.Is(err, runtime.ErrUnauthorized) && found:
		who := "of user " + cred.Auth.Username
		if cred.Auth.IdentityToken != "" {
			who = "(identity token)"
		}
		where := string(cred.Source)
		if cred.Path != "" {
			where += " " + cred.Path
		}
		return &pullError{"unauthorized: authentication required for " + repo + " (the registry refused the credentials " + who + " for " + cred.Key + " in " + where + ")", err}
	case errors.Is(err, runtime.ErrUnauthorized):
		host := reference.Domain(n)
		var sources, helpers []string
		for _, k := range searched {
			if k == nil {
				continue
			}
			sources = append(sources, string(k.Source))
			if k.helperFor(host) {
				helpers = append(helpers, string(k.Source))
			}
		}
		if len(sources) == 0 {
			sources = []string{string(FlagSource)}
		}
		msg := "unauthorized: authentication required for " + repo + " (no credentials for this registry in " + strings.Join(sources, " or ")
		if len(helpers) > 0 {
			msg += "; " + strings.Join(helpers, " and ") + " names a credential helper, which berth does not run: write the credentials in auths"
		}
		return &pullError{msg + ")", err}
	case errors.Is(err, runtime.ErrNotFound) && strings.Contains(err.Error(), "manifest unknown"):
		what := "tag " + tagOf(n)
		if d, ok := n.(reference.Digested); ok {
			what = "digest " + d.Digest().String()
		}
		return &pullError{"manifest unknown: " + what + " not found in " + repo, err}
	}
	return err
}

func tagOf(n reference.Named) string {
	if t, ok := reference.TagNameOnly(n).(reference.Tagged); ok {
		return t.Tag()
	}
	return "latest"
}
