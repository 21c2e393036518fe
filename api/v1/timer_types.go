package v1

import (
	"strconv"
	"time"
)

// Timer runs a container on a schedule, as a systemd timer starts its
// service: the leading controller decides each run at its schedule's
// elapses, binds it to a host as it places Units, and that host runs the
// container once, to its exit.
type Timer struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta   `json:"metadata"`
	Spec     TimerSpec    `json:"spec"`
	Status   *TimerStatus `json:"status,omitempty"`
}

// TimerSpec is what the user asks of a Timer.
type TimerSpec struct {
	Description string `json:"description,omitempty"`
	// Schedule is a systemd calendar expression (OnCalendar=: "daily",
	// "Mon..Fri *-*-* 02:00:00", "*:0/5") or cron's five fields
	// ("*/5 * * * *"); see package schedule.
	Schedule string `json:"schedule"`
	// TimeZone is the tz database zone the schedule is read in (UTC when
	// empty), unless the expression names its own.
	TimeZone string `json:"timeZone,omitempty"`
	// Persistent runs once, as soon as it can, a run missed while no
	// controller led (Persistent=true), however long ago.
	Persistent bool `json:"persistent,omitempty"`
	// StartingDeadline skips a run that cannot start this long after its
	// time. Without it a Timer that is not persistent skips runs later than
	// DefaultStartingDeadline; a persistent one runs them however late.
	StartingDeadline *Duration `json:"startingDeadline,omitempty"`
	// RandomizedDelay delays each run by a random time below it
	// (RandomizedDelaySec=), the same whichever controller leads.
	RandomizedDelay *Duration `json:"randomizedDelay,omitempty"`
	// ConcurrencyPolicy says what a run due while another is running does:
	// Forbid (default) skips it, Allow runs both, Replace stops the running
	// one.
	ConcurrencyPolicy ConcurrencyPolicy `json:"concurrencyPolicy,omitempty"`
	// ActiveDeadline stops a run that takes longer, and counts it failed.
	ActiveDeadline *Duration `json:"activeDeadline,omitempty"`
	// SuccessfulRunsHistory and FailedRunsHistory are how many finished runs
	// are kept, with their containers and logs (default 3 and 1).
	SuccessfulRunsHistory *int `json:"successfulRunsHistory,omitempty"`
	FailedRunsHistory     *int `json:"failedRunsHistory,omitempty"`
	// Suspend stops new runs until it is false again; runs under way go on.
	Suspend bool `json:"suspend,omitempty"`
	// Placement chooses where runs go, as a Unit's does, but for replicas:
	// each run goes to one host the leader chooses among those that match
	// (hosts, hostSelector), or with global to every matching host.
	Placement Placement `json:"placement,omitzero"`
	// Container is what a run runs.
	Container ContainerTemplate `json:"container"`
	// Restart says whether a run whose container fails starts it again.
	Restart RunRestart `json:"restart,omitzero"`
}

// ConcurrencyPolicy says what a Timer does with a run due while another
// runs.
type ConcurrencyPolicy string

// Values of ConcurrencyPolicy, as Kubernetes' CronJob names them.
const (
	ConcurrencyForbid  ConcurrencyPolicy = "Forbid"
	ConcurrencyAllow   ConcurrencyPolicy = "Allow"
	ConcurrencyReplace ConcurrencyPolicy = "Replace"
)

// RunRestart is the restart policy of one run: never (default), or
// on-failure up to Limit restarts.
type RunRestart struct {
	Policy RestartPolicyType `json:"policy,omitempty"`
	Limit  *int              `json:"limit,omitempty"`
}

// Defaults of a Timer.
const (
	DefaultSuccessfulRunsHistory = 3
	DefaultFailedRunsHistory     = 1
	DefaultRunRestartLimit       = 3
	// DefaultStartingDeadline is how late a run of a Timer that is not
	// persistent may start (after a change of leader, say) when it sets
	// no startingDeadline.
	DefaultStartingDeadline = time.Minute
	// MaxRunsHistory bounds either history.
	MaxRunsHistory = 100
)

// RunResult is what became of a run.
type RunResult string

// Values of RunResult.
const (
	RunActive    RunResult = "Active"
	RunSucceeded RunResult = "Succeeded"
	RunFailed    RunResult = "Failed"
)

// Reasons of a run's end, and of a Timer's events.
const (
	ReasonRunStarted        = "RunStarted"
	ReasonRunSucceeded      = "RunSucceeded"
	ReasonRunFailed         = "RunFailed"
	ReasonRunFinished       = "Finished"
	ReasonExitCode          = "ExitCode"
	ReasonDeadlineExceeded  = "DeadlineExceeded"
	ReasonHostLost          = "HostLost"
	ReasonReplaced          = "Replaced"
	ReasonNoHost            = "NoHost"
	ReasonMissedSchedule    = "MissedSchedule"
	ReasonConcurrentSkipped = "AlreadyActive"
	ReasonRunRefused        = "Refused"
)

// TimerRunBinding is one run the leading controller decided, under
// bindings/timer/<timer>/<run>: which hosts run it, never what (they run
// the Timer's own template). Stop asks those hosts to stop it.
type TimerRunBinding struct {
	Timer string `json:"timer"`
	Run   int64  `json:"run"`
	// Tick is the elapse of the schedule the run is for; zero for a run
	// started by hand.
	Tick    time.Time `json:"tick,omitzero"`
	Created time.Time `json:"created"`
	Hosts   []string  `json:"hosts"`
	// Stop: the run is to stop (Reason says why: DeadlineExceeded,
	// Replaced).
	Stop   bool   `json:"stop,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// TimerStatus is the leading controller's record of a Timer, under
// status/leader/timer/<name>: written in the same transaction as each run
// it decides, so a new leader goes on from the last tick decided, neither
// skipping nor repeating one.
type TimerStatus struct {
	ObservedGeneration int64       `json:"observedGeneration"`
	Conditions         []Condition `json:"conditions,omitempty"`
	// LastScheduleTime is the last elapse decided: run, skipped or merged
	// into a catch-up run.
	LastScheduleTime time.Time `json:"lastScheduleTime,omitzero"`
	// NextScheduleTime is the next elapse, with its randomized delay.
	NextScheduleTime time.Time `json:"nextScheduleTime,omitzero"`
	// LastRun is the number of the last run (runs count from 1).
	LastRun int64 `json:"lastRun,omitempty"`
	// LastManualRun is the request (berth.dev/run-requested-at) last
	// served.
	LastManualRun string `json:"lastManualRun,omitempty"`
	// LastSuccessfulTime is when the last successful run ended.
	LastSuccessfulTime time.Time `json:"lastSuccessfulTime,omitzero"`
	// Runs are the active runs and the finished ones kept, oldest first.
	Runs []TimerRun `json:"runs,omitempty"`
}

// TimerRun is one run as the leader saw it.
type TimerRun struct {
	Run            int64         `json:"run"`
	Tick           time.Time     `json:"tick,omitzero"`
	Manual         bool          `json:"manual,omitempty"`
	Hosts          []string      `json:"hosts"`
	StartTime      time.Time     `json:"startTime"`
	CompletionTime time.Time     `json:"completionTime,omitzero"`
	Result         RunResult     `json:"result"`
	Reason         string        `json:"reason,omitempty"`
	Message        string        `json:"message,omitempty"`
	Instances      []RunInstance `json:"instances,omitempty"`
	Stop           bool          `json:"stop,omitempty"`
	StopReason     string        `json:"stopReason,omitempty"`
}

// RunInstance is a run on one host, as the host reported it.
type RunInstance struct {
	Host     string        `json:"host"`
	State    InstanceState `json:"state"`
	ExitCode *int          `json:"exitCode,omitempty"`
	Restarts int           `json:"restarts,omitempty"`
	Started  time.Time     `json:"started,omitzero"`
	Finished time.Time     `json:"finished,omitzero"`
	Message  string        `json:"message,omitempty"`
}

// AnnotationRunRequestedAt asks the leader for a run now (applyctl run
// timer): a new value is served once.
const AnnotationRunRequestedAt = "berth.dev/run-requested-at"

// TimerRunName is the name of a run's instance as its host reports it:
// <timer>/<run>.
func TimerRunName(timer string, run int64) string {
	return timer + "/" + strconv.FormatInt(run, 10)
}

func (t *Timer) GetTypeMeta() *TypeMeta     { return &t.TypeMeta }
func (t *Timer) GetObjectMeta() *ObjectMeta { return &t.Metadata }
func (t *Timer) DeepCopyObject() Object     { return deepCopy(t) }
