package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
	"unicode"
)

// Values of Config.APIReads.
const (
	APIReadsOpen  = "open"
	APIReadsToken = "token"
)

// maxTokenBytes bounds what is read of --api-token-file: a token is a
// line, not a file of any size.
const maxTokenBytes = 4096

// validateAPI checks the flags of the HTTP API's protection: TLS files
// that load, a token file that holds a token, and a --listen that is
// loopback unless TLS or --insecure-http is given.
func (c *Config) validateAPI() error {
	if err := certAndKey("--tls-cert", c.TLSCert, "--tls-key", c.TLSKey); err != nil {
		return err
	}
	if c.TLSCert != "" && c.InsecureHTTP {
		return fmt.Errorf("--insecure-http and --tls-cert ask for both plain HTTP and HTTPS: give one")
	}
	if c.TLSCert != "" {
		if _, err := c.apiTLSConfig(); err != nil {
			return err
		}
	}
	switch c.APIReads {
	case "", APIReadsOpen:
	case APIReadsToken:
		if c.APITokenFile == "" {
			return fmt.Errorf("--api-reads token needs --api-token-file: the token that reads must carry")
		}
	default:
		return fmt.Errorf("--api-reads %q: use open or token", c.APIReads)
	}
	if c.APITokenFile != "" {
		if _, err := readToken(c.APITokenFile); err != nil {
			return err
		}
	}
	if c.TLSCert == "" && !c.InsecureHTTP {
		host, _, _ := net.SplitHostPort(c.Listen)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		loopback, err := isLoopbackHost(ctx, host, net.DefaultResolver.LookupHost)
		if err != nil {
			return fmt.Errorf("--listen %s: %w", c.Listen, err)
		}
		if !loopback {
			return fmt.Errorf("--listen %s is not a loopback address: give --tls-cert and --tls-key to serve HTTPS there, or --insecure-http to serve plain HTTP", c.Listen)
		}
	}
	return nil
}

// certAndKey says which of a certificate flag and its key flag is missing
// when only one is given.
func certAndKey(certFlag, cert, keyFlag, key string) error {
	switch {
	case cert != "" && key == "":
		return fmt.Errorf("%s %s needs %s: the key of that certificate", certFlag, cert, keyFlag)
	case key != "" && cert == "":
		return fmt.Errorf("%s %s needs %s: the certificate of that key", keyFlag, key, certFlag)
	}
	return nil
}

// apiTLSConfig loads --tls-cert and --tls-key into the HTTP API's TLS
// configuration (TLS 1.2 at least); nil without --tls-cert.
func (c *Config) apiTLSConfig() (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", c.TLSCert, c.TLSKey, err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// readToken reads the token of --api-token-file: the file's content
// without surrounding white space. Errors name the file, never what it
// holds.
func readToken(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--api-token-file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenBytes+1))
	if err != nil {
		return nil, fmt.Errorf("--api-token-file: %w", err)
	}
	if len(b) > maxTokenBytes {
		return nil, fmt.Errorf("--api-token-file %s: longer than %d bytes; it should hold one token", path, maxTokenBytes)
	}
	tok := bytes.TrimSpace(b)
	if len(tok) == 0 {
		return nil, fmt.Errorf("--api-token-file %s: the file is empty; it should hold one token", path)
	}
	if bytes.ContainsFunc(tok, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsGraphic(r) || unicode.IsSpace(r) }) {
		return nil, fmt.Errorf("--api-token-file %s: the token must be one word of printable ASCII characters, without spaces", path)
	}
	return tok, nil
}

// isLoopbackHost reports whether the host part of a listen address stands
// for loopback addresses only: a loopback IP, or a name every address of
// which is loopback. "" (every address) is not.
func isLoopbackHost(ctx context.Context, host string, lookup func(context.Context, string) ([]string, error)) (bool, error) {
	if host == "" {
		return false, nil
	}
	if ip := net.ParseIP(stripZone(host)); ip != nil {
		return ip.IsLoopback(), nil
	}
	addrs, err := lookup(ctx, host)
	if err != nil {
		return false, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return false, nil
	}
	for _, a := range addrs {
		ip := net.ParseIP(stripZone(a))
		if ip == nil || !ip.IsLoopback() {
			return false, nil
		}
	}
	return true, nil
}

func stripZone(host string) string {
	h, _, _ := strings.Cut(host, "%")
	return h
}
