package gitsync

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"

	v1 "berth.dev/berth/api/v1"
)

// Credentials are the controller's Git credentials, by URL prefix, read
// from a file given to it (never from etcd). Each line of the file is
//
//	<url-prefix> <username> <password-or-token>   https basic auth
//	<url-prefix> ssh-key <private-key-path>        ssh public key auth
//
// Blank lines and lines starting with # are skipped. A prefix matches a URL
// that equals it or continues it after a "/" (or after a prefix ending in
// "/" or ":"), so https://git.example.com never matches
// https://git.example.com.evil.org; the longest matching prefix wins.
// Credentials are immutable and safe for concurrent use.
type Credentials struct {
	entries []credential
}

type credential struct {
	prefix   string
	username string
	password string // basic auth
	keyPath  string // ssh-key
	line     int
}

// LoadCredentials reads a credentials file. Errors name the file and line,
// never a secret.
func LoadCredentials(path string) (*Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("git credentials: %w", err)
	}
	c, err := ParseCredentials(b)
	if err != nil {
		return nil, fmt.Errorf("git credentials %s: %w", path, err)
	}
	return c, nil
}

// ParseCredentials parses the content of a credentials file.
func ParseCredentials(b []byte) (*Credentials, error) {
	c := &Credentials{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want <url-prefix> <username> <password-or-token> or <url-prefix> ssh-key <path>, got %d fields", n, len(f))
		}
		e := credential{prefix: f[0], line: n}
		scheme := v1.GitURLScheme(f[0])
		if scheme == "" { // a prefix may stop where a URL cannot: git@host:
			scheme = v1.GitURLScheme(f[0] + "x")
		}
		switch {
		case f[1] == "ssh-key":
			if scheme != "ssh" {
				return nil, fmt.Errorf("line %d: ssh-key for %q, which is not an ssh URL", n, f[0])
			}
			e.keyPath = f[2]
		case scheme != "https":
			return nil, fmt.Errorf("line %d: basic auth for %q, which is not an https URL", n, f[0])
		default:
			e.username, e.password = f[1], f[2]
		}
		c.entries = append(c.entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// match returns the entry of the longest prefix matching rawURL.
func (c *Credentials) match(rawURL string) (credential, bool) {
	var best credential
	found := false
	if c == nil {
		return best, false
	}
	for _, e := range c.entries {
		if prefixMatches(e.prefix, rawURL) && (!found || len(e.prefix) > len(best.prefix)) {
			best, found = e, true
		}
	}
	return best, found
}

func prefixMatches(prefix, u string) bool {
	if !strings.HasPrefix(u, prefix) {
		return false
	}
	if len(u) == len(prefix) || strings.HasSuffix(prefix, "/") || strings.HasSuffix(prefix, ":") {
		return true
	}
	return u[len(prefix)] == '/'
}

// AuthFor returns the go-git auth for rawURL: nil when no prefix matches
// (anonymous, or go-git's ssh defaults). The ssh user is the URL's, "git"
// when it names none; host keys are checked against known_hosts as go-git
// does by default.
func (c *Credentials) AuthFor(rawURL string) (transport.AuthMethod, error) {
	e, ok := c.match(rawURL)
	switch {
	case !ok:
		return nil, nil
	case e.keyPath == "":
		return &githttp.BasicAuth{Username: e.username, Password: e.password}, nil
	}
	user := "git"
	if u, err := url.Parse(rawURL); err == nil && u.Scheme == "ssh" {
		if u.User != nil && u.User.Username() != "" {
			user = u.User.Username()
		}
	} else if at := strings.Index(rawURL, "@"); at > 0 && !strings.ContainsAny(rawURL[:at], "/:") {
		user = rawURL[:at] // scp-like user@host:path
	}
	auth, err := gitssh.NewPublicKeysFromFile(user, e.keyPath, "")
	if err != nil {
		return nil, fmt.Errorf("git credentials line %d: ssh key %s: %w", e.line, e.keyPath, err)
	}
	return auth, nil
}

// FetchOption changes how Fetch talks to the remote.
type FetchOption func(*fetchOptions)

type fetchOptions struct {
	creds *Credentials
}

// WithCredentials makes Fetch authenticate with the credentials whose
// prefix matches the URL (none: anonymous).
func WithCredentials(c *Credentials) FetchOption {
	return func(o *fetchOptions) { o.creds = c }
}
