// Package unitready decides whether a Unit is Ready at its current
// generation from its instance statuses and the host records: a pure
// function (Of) shared by applyctl's apply --wait and wait and by the
// GitSource loop's spec.wait.
//
//	r := unitready.Of(unit, instances, hosts)
//	if r.Failed != nil { ... } else if r.Ready() { ... }
package unitready
