// Package localcloud is the embedded local cloud: kumo, an in-process AWS
// emulator, behind a front that adds what kumo lacks (a fixed address,
// DynamoDB response checksums); a function runner that starts a deployed
// function's real bootstrap binary against kumo's Lambda Runtime API; a
// scheduler clock that fires deployed schedules like EventBridge Scheduler;
// and a deployer that creates template.yaml's resources through the service
// APIs of this or any other endpoint.
package localcloud
