package attest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bootchain/bootchain/verify"
)

// The names an attestation of a bootchain run is made of.
const (
	// PayloadType is the DSSE payload type of an in-toto Statement.
	PayloadType = "application/vnd.in-toto+json"
	// PredicateType is SLSA provenance v1's.
	PredicateType = "https://slsa.dev/provenance/v1"
	// BuildType names what the provenance describes: a run of a bootchain
	// chain (a chain file of steps with pinned outputs, see BOOTSTRAP.md),
	// version 1 of the way this package states it.
	BuildType = "https://github.com/bootchain/bootchain/chain/v1"
	// BuilderID is the builder: bootchain itself (its version, backend,
	// accelerator and kernel are in the builder's version and
	// dependencies).
	BuilderID = "https://github.com/bootchain/bootchain"
)

// Annotation values of "kind" on the resource descriptors.
const (
	kindSeed    = "seed"
	kindSource  = "source"
	kindStep    = "step"
	kindOutput  = "output"
	kindBackend = "backend"
	kindKernel  = "kernel"
	kindTree    = "start-tree"
)

// ErrStatement is wrapped by the errors of a payload that is not a
// Statement of a bootchain run.
var ErrStatement = errors.New("not a statement of a bootchain run")

// Statement states r as an in-toto Statement v1 with a SLSA provenance v1
// predicate. Its subjects are the outputs of the steps that verified
// (named by path, annotated with the step); the outputs of steps in the
// unverified section are byproducts, never subjects.
func Statement(r Run) (*intoto.Statement, error) {
	var subjects, byproducts []*intoto.ResourceDescriptor
	for _, s := range r.Steps {
		ann := map[string]any{"kind": kindStep, "status": s.Status}
		if s.Cached {
			ann["cached"] = true
		}
		d, err := descriptor(s.Name, nil, ann)
		if err != nil {
			return nil, err
		}
		byproducts = append(byproducts, d)
		for _, o := range s.Outputs {
			d, err := descriptor(o.Path, map[string]string{"sha256": o.SHA256}, map[string]any{"kind": kindOutput, "step": s.Name})
			if err != nil {
				return nil, err
			}
			if s.Status == verify.StatusOK {
				subjects = append(subjects, d)
			} else {
				byproducts = append(byproducts, d)
			}
		}
	}

	ext := map[string]any{"chain": r.Chain, "chainDigest": r.ChainDigest, "backend": r.Backend}
	for k, v := range map[string]string{"until": r.Until, "untilFrom": r.UntilFrom, "from": r.From} {
		if v != "" {
			ext[k] = v
		}
	}
	extS, err := structpb.NewStruct(ext)
	if err != nil {
		return nil, fmt.Errorf("external parameters: %w", err)
	}

	var deps []*intoto.ResourceDescriptor
	seeds := make([]string, 0, len(r.Seeds))
	for n := range r.Seeds {
		seeds = append(seeds, n)
	}
	sort.Strings(seeds)
	for _, n := range seeds {
		d, err := descriptor(n, map[string]string{"sha256": r.Seeds[n]}, map[string]any{"kind": kindSeed})
		if err != nil {
			return nil, err
		}
		deps = append(deps, d)
	}
	if r.StartTree != "" {
		d, err := descriptor("start-tree", map[string]string{"sha256": r.StartTree}, map[string]any{"kind": kindTree})
		if err != nil {
			return nil, err
		}
		deps = append(deps, d)
	}
	for _, s := range r.Sources {
		ann := map[string]any{"kind": kindSource, "form": s.Form, "from": s.From, "files": float64(s.Files), "filesSha256": s.FilesSHA256}
		if s.Version != "" {
			ann["version"] = s.Version
		}
		var dig map[string]string
		if s.ArchiveSHA256 != "" {
			dig = map[string]string{"sha256": s.ArchiveSHA256}
		}
		d, err := descriptor(s.Name, dig, ann)
		if err != nil {
			return nil, err
		}
		deps = append(deps, d)
	}

	version := map[string]string{"bootchain": r.Tool.Version, "commit": r.Tool.Commit}
	if r.Tool.Modified {
		version["modified"] = "true"
	}
	backAnn := map[string]any{"kind": kindBackend}
	if r.Accel != "" {
		backAnn["accel"] = r.Accel
	}
	back, err := descriptor(r.Backend, nil, backAnn)
	if err != nil {
		return nil, err
	}
	builderDeps := []*intoto.ResourceDescriptor{back}
	if r.KernelSHA256 != "" {
		k, err := descriptor("kernel", map[string]string{"sha256": r.KernelSHA256}, map[string]any{"kind": kindKernel})
		if err != nil {
			return nil, err
		}
		builderDeps = append(builderDeps, k)
	}
	meta := &slsa.BuildMetadata{}
	if !r.Started.IsZero() {
		meta.StartedOn = timestamppb.New(r.Started)
	}
	if !r.Ended.IsZero() {
		meta.FinishedOn = timestamppb.New(r.Ended)
	}
	prov := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{BuildType: BuildType, ExternalParameters: extS, ResolvedDependencies: deps},
		RunDetails: &slsa.RunDetails{
			Builder:    &slsa.Builder{Id: BuilderID, Version: version, BuilderDependencies: builderDeps},
			Metadata:   meta,
			Byproducts: byproducts,
		},
	}
	if err := prov.Validate(); err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	pred, err := toStruct(prov)
	if err != nil {
		return nil, err
	}
	st := &intoto.Statement{Type: intoto.StatementTypeUri, Subject: subjects, PredicateType: PredicateType, Predicate: pred}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	return st, nil
}

func descriptor(name string, digest map[string]string, ann map[string]any) (*intoto.ResourceDescriptor, error) {
	a, err := structpb.NewStruct(ann)
	if err != nil {
		return nil, fmt.Errorf("%s: annotations: %w", name, err)
	}
	d := &intoto.ResourceDescriptor{Name: name, Digest: digest, Annotations: a}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}

// toStruct converts the provenance message to the Statement's predicate.
func toStruct(p *slsa.Provenance) (*structpb.Struct, error) {
	b, err := protojson.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	return s, nil
}

// MarshalStatement returns the Statement's JSON as it is signed: compact,
// fields in the protocol's order, maps sorted, so the same run always
// gives the same bytes. (protojson varies its whitespace on purpose; the
// compaction takes that out.)
func MarshalStatement(st *intoto.Statement) ([]byte, error) {
	b, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	return buf.Bytes(), nil
}

// ParseStatement reads a Statement of a bootchain run from its JSON: an
// in-toto Statement v1 with a SLSA provenance v1 predicate of
// bootchain's build type. Errors wrap ErrStatement.
func ParseStatement(b []byte) (*intoto.Statement, *slsa.Provenance, error) {
	st := &intoto.Statement{}
	if err := protojson.Unmarshal(b, st); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrStatement, err)
	}
	if err := st.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrStatement, err)
	}
	if st.PredicateType != PredicateType {
		return nil, nil, fmt.Errorf("%w: predicate type %q, expected %q", ErrStatement, st.PredicateType, PredicateType)
	}
	pb, err := protojson.Marshal(st.Predicate)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: predicate: %v", ErrStatement, err)
	}
	prov := &slsa.Provenance{}
	if err := protojson.Unmarshal(pb, prov); err != nil {
		return nil, nil, fmt.Errorf("%w: predicate: %v", ErrStatement, err)
	}
	if err := prov.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: predicate: %v", ErrStatement, err)
	}
	if bt := prov.GetBuildDefinition().GetBuildType(); bt != BuildType {
		return nil, nil, fmt.Errorf("%w: build type %q, expected %q", ErrStatement, bt, BuildType)
	}
	return st, prov, nil
}

// FromStatement reads back the Run a Statement states (see Statement).
func FromStatement(st *intoto.Statement, prov *slsa.Provenance) (Run, error) {
	bd, rd := prov.GetBuildDefinition(), prov.GetRunDetails()
	ext := bd.GetExternalParameters().AsMap()
	str := func(k string) string { s, _ := ext[k].(string); return s }
	r := Run{
		Chain: str("chain"), ChainDigest: str("chainDigest"), Backend: str("backend"),
		Until: str("until"), UntilFrom: str("untilFrom"), From: str("from"),
		Seeds: map[string]string{},
	}
	if r.Chain == "" || r.ChainDigest == "" {
		return Run{}, fmt.Errorf("%w: external parameters name no chain and digest", ErrStatement)
	}
	for _, d := range bd.GetResolvedDependencies() {
		ann := d.GetAnnotations().AsMap()
		switch ann["kind"] {
		case kindSeed:
			r.Seeds[d.GetName()] = d.GetDigest()["sha256"]
		case kindTree:
			r.StartTree = d.GetDigest()["sha256"]
		case kindSource:
			s := verify.SourceReport{Name: d.GetName(), ArchiveSHA256: d.GetDigest()["sha256"]}
			s.Version, _ = ann["version"].(string)
			s.Form, _ = ann["form"].(string)
			s.From, _ = ann["from"].(string)
			s.FilesSHA256, _ = ann["filesSha256"].(string)
			if n, ok := ann["files"].(float64); ok {
				s.Files = int(n)
			}
			r.Sources = append(r.Sources, s)
		}
	}
	b := rd.GetBuilder()
	r.Tool = verify.Tool{Version: b.GetVersion()["bootchain"], Commit: b.GetVersion()["commit"], Modified: b.GetVersion()["modified"] == "true"}
	for _, d := range b.GetBuilderDependencies() {
		ann := d.GetAnnotations().AsMap()
		switch ann["kind"] {
		case kindBackend:
			r.Accel, _ = ann["accel"].(string)
		case kindKernel:
			r.KernelSHA256 = d.GetDigest()["sha256"]
		}
	}
	if t := rd.GetMetadata().GetStartedOn(); t != nil {
		r.Started = t.AsTime()
	}
	if t := rd.GetMetadata().GetFinishedOn(); t != nil {
		r.Ended = t.AsTime()
	}
	steps := map[string]int{}
	for _, d := range rd.GetByproducts() {
		ann := d.GetAnnotations().AsMap()
		if ann["kind"] != kindStep {
			continue
		}
		s := Step{Name: d.GetName()}
		s.Status, _ = ann["status"].(string)
		s.Cached, _ = ann["cached"].(bool)
		if _, dup := steps[s.Name]; dup || s.Name == "" {
			return Run{}, fmt.Errorf("%w: step %q stated twice or unnamed", ErrStatement, s.Name)
		}
		steps[s.Name] = len(r.Steps)
		r.Steps = append(r.Steps, s)
	}
	outputs := append(append([]*intoto.ResourceDescriptor{}, st.GetSubject()...), rd.GetByproducts()...)
	for _, d := range outputs {
		ann := d.GetAnnotations().AsMap()
		if ann["kind"] != kindOutput {
			continue
		}
		name, _ := ann["step"].(string)
		i, ok := steps[name]
		if !ok {
			return Run{}, fmt.Errorf("%w: output %s names step %q, which the statement does not list", ErrStatement, d.GetName(), name)
		}
		h := d.GetDigest()["sha256"]
		if len(h) != 64 {
			return Run{}, fmt.Errorf("%w: output %s has no sha256", ErrStatement, d.GetName())
		}
		r.Steps[i].Outputs = append(r.Steps[i].Outputs, Output{Path: d.GetName(), SHA256: h})
	}
	for i := range r.Steps {
		o := r.Steps[i].Outputs
		sort.Slice(o, func(a, b int) bool { return o[a].Path < o[b].Path })
	}
	return r, nil
}

// Verified returns the number of files the run verified (its subjects).
func (r Run) Verified() int {
	n := 0
	for _, s := range r.Steps {
		if s.Status == verify.StatusOK {
			n += len(s.Outputs)
		}
	}
	return n
}
