package embedded

import "net/url"

// Test hooks, compiled only into this package's tests.

// LocalURL is where this process dials an embedded etcd's listen URL.
func LocalURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return err.Error()
	}
	return localURL(*p)
}
