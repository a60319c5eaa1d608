// Package cfn reads CloudFormation templates and binds them to a stack: it
// parses YAML or JSON templates (short-form intrinsics included), resolves
// parameters, conditions and intrinsic functions, checks every reference,
// and orders resources so that each comes after what it refers to.
//
// It is pure: it imports only the standard library and a YAML parser, never
// an AWS SDK or an emulator, so its tests run in a second.
package cfn
