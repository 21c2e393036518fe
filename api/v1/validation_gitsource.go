package v1

import (
	"net/url"
	"path"
	"regexp"
	"strings"
)

var (
	gitCommitRe = regexp.MustCompile(`^[0-9a-f]{40}$`)
	// scpLikeRe is Git's scp-like ssh syntax: [user@]host:path.
	scpLikeRe = regexp.MustCompile(`^([A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+:.+$`)
)

// GitURLScheme returns the scheme of a Git URL (https, ssh, git or file;
// "ssh" for the scp-like user@host:path), or "" when it is none of those.
// git:// is Git's own unauthenticated protocol (git daemon).
func GitURLScheme(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && strings.Contains(raw, "://") {
		switch u.Scheme {
		case "https", "ssh", "git", "file":
			if u.Scheme != "file" && u.Host == "" {
				return ""
			}
			if u.Scheme == "file" && u.Path == "" {
				return ""
			}
			return u.Scheme
		}
		return ""
	}
	if scpLikeRe.MatchString(raw) {
		return "ssh"
	}
	return ""
}

func validateGitSource(e *errs, g *GitSource) {
	s := &g.Spec
	switch {
	case s.URL == "":
		e.add("spec.url", "is required")
	case GitURLScheme(s.URL) == "":
		e.add("spec.url", "%q is not a Git URL berth can fetch: use https://, ssh:// (or user@host:path), git:// or file://", s.URL)
	default:
		if u, err := url.Parse(s.URL); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				e.add("spec.url", "must not hold a password: give credentials to the controller, never to the object")
			}
		}
	}
	n := 0
	for _, v := range []string{s.Ref.Branch, s.Ref.Tag, s.Ref.Commit} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		e.add("spec.ref", "set at most one of branch, tag and commit")
	}
	if s.Ref.Commit != "" && !gitCommitRe.MatchString(s.Ref.Commit) {
		e.add("spec.ref.commit", "%q is not a full commit hash (40 lower-case hex digits)", s.Ref.Commit)
	}
	for f, v := range map[string]string{"spec.ref.branch": s.Ref.Branch, "spec.ref.tag": s.Ref.Tag} {
		if v != "" && (strings.HasPrefix(v, "-") || strings.ContainsAny(v, " ~^:?*[\\\x00") || strings.Contains(v, "..")) {
			e.add(f, "%q is not a valid Git ref name", v)
		}
	}
	if s.Path != "" {
		clean := path.Clean(s.Path)
		if path.IsAbs(s.Path) || clean == ".." || strings.HasPrefix(clean, "../") {
			e.add("spec.path", "%q must be a relative path inside the repository", s.Path)
		}
	}
	if s.Interval != nil && s.Interval.Duration < MinGitInterval {
		e.add("spec.interval", "%s is shorter than the minimum of %s", s.Interval.Duration, MinGitInterval)
	}
	if s.Timeout != nil && s.Timeout.Duration <= 0 {
		e.add("spec.timeout", "must be positive")
	}
}
