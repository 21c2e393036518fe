package v1

// Prepare defaults every decoded document and validates it on its own and as
// a set with the stored objects (see Validate and ValidateSet). Every
// problem is returned, located by source, document, field and line. Objects
// in docs are defaulted in place.
func Prepare(docs []*Document, stored []Object) ErrorList {
	var errs ErrorList
	objs := make([]Object, 0, len(docs))
	valid := make([]*Document, 0, len(docs))
	for _, d := range docs {
		Default(d.Object)
		fes := Validate(d.Object)
		for _, fe := range fes {
			errs = append(errs, d.Errorf(joinPath(d.path, fe.Field), "%s", fe.Msg))
		}
		objs = append(objs, d.Object)
		valid = append(valid, d)
	}
	for _, se := range ValidateSet(objs, stored) {
		d := valid[se.Index]
		errs = append(errs, d.Errorf(joinPath(d.path, se.Field), "%s", se.Msg))
	}
	return errs
}
