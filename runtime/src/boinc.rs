//! BOINC's remote job submission RPC (`PROJECT_URL/submit_rpc_handler.php`, form field
//! `request=<xml>`): request bodies and lenient reply parsing. The transport lives elsewhere.
//!
//! Replies are parsed leniently because real servers send malformed XML: `abort_jobs` answers
//! with unclosed `<aborted NAME>` lines, PHP warnings arrive as `<error>` elements without
//! `error_num` (not fatal, as in BOINC's own C++ binding), and the declared encoding is
//! ISO-8859-1. Only a nonzero `error_num` is an error.

use std::fmt::Write as _;

/// A leniently parsed XML element: name, concatenated text, children.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// First element called `name` anywhere below (depth first).
    pub fn find(&self, name: &str) -> Option<&Element> {
        self.children.iter().find_map(|c| {
            if c.name == name {
                Some(c)
            } else {
                c.find(name)
            }
        })
    }

    /// Trimmed text of child `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }
}

/// What follows the first `end` in `rest` (nothing if there is none).
fn skip_to<'a>(rest: &'a str, end: &str) -> &'a str {
    rest.find(end).map_or("", |i| &rest[i + end.len()..])
}

/// Parses anything: unknown constructs are skipped, unclosed elements are closed where an
/// ancestor closes or at the end, stray closing tags are ignored. The result is a document
/// element whose children are the top-level elements.
pub fn parse(xml: &str) -> Element {
    let mut stack: Vec<Element> = vec![Element {
        name: "#document".into(),
        ..Element::default()
    }];
    let mut rest = xml;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            stack
                .last_mut()
                .expect("document")
                .text
                .push_str(&unescape(rest));
            break;
        };
        if lt > 0 {
            stack
                .last_mut()
                .expect("document")
                .text
                .push_str(&unescape(&rest[..lt]));
        }
        rest = &rest[lt..];
        if let Some(body) = rest.strip_prefix("<![CDATA[") {
            let end = body.find("]]>").unwrap_or(body.len());
            stack
                .last_mut()
                .expect("document")
                .text
                .push_str(&body[..end]);
            rest = body.get(end + 3..).unwrap_or("");
            continue;
        }
        if rest.starts_with("<!--") {
            rest = skip_to(rest, "-->");
            continue;
        }
        if rest.starts_with("<?") || rest.starts_with("<!") {
            rest = skip_to(rest, ">");
            continue;
        }
        let Some(gt) = rest.find('>') else { break };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim();
            // Close up to the matching open element; a stray close tag closes nothing.
            if let Some(pos) = stack.iter().rposition(|e| e.name == name) {
                while stack.len() > pos.max(1) {
                    let done = stack.pop().expect("non-empty");
                    stack.last_mut().expect("document").children.push(done);
                }
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name = tag.split_whitespace().next().unwrap_or("").to_string();
        if name.is_empty() {
            continue;
        }
        let el = Element {
            name,
            ..Element::default()
        };
        // `<aborted NAME>`-style lines (a name then junk, never closed) are leaves.
        if self_closing
            || tag
                .split_whitespace()
                .nth(1)
                .is_some_and(|a| !a.contains('='))
        {
            stack.last_mut().expect("document").children.push(el);
        } else {
            stack.push(el);
        }
    }
    while stack.len() > 1 {
        let done = stack.pop().expect("non-empty");
        stack.last_mut().expect("document").children.push(done);
    }
    stack.pop().expect("document")
}

/// XML entities decoded.
pub fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// XML special characters escaped.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RpcError {
    #[error("BOINC error {num}: {msg}")]
    Server { num: i64, msg: String },
    #[error("malformed reply: {0}")]
    Malformed(String),
}

/// The reply element of operation `op`, or the server's error.
pub fn reply<'a>(doc: &'a Element, op: &str) -> Result<&'a Element, RpcError> {
    // Errors may stand alone or inside the operation element; only a nonzero number is fatal.
    let mut errors = doc.children.iter().filter(|e| e.name == "error").chain(
        doc.child(op)
            .into_iter()
            .flat_map(|r| r.children_named("error")),
    );
    if let Some(e) = errors.find(|e| {
        e.text_of("error_num")
            .and_then(|n| n.parse::<i64>().ok())
            .is_some_and(|n| n != 0)
    }) {
        return Err(RpcError::Server {
            num: e
                .text_of("error_num")
                .and_then(|n| n.parse().ok())
                .unwrap_or(-1),
            msg: e.text_of("error_msg").unwrap_or("").to_string(),
        });
    }
    doc.child(op)
        .ok_or_else(|| RpcError::Malformed(format!("no <{op}> element")))
}

/// Batch states (batch.state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchState {
    Init,
    InProgress,
    Complete,
    Aborted,
    Retired,
}

impl BatchState {
    fn from_code(c: i64) -> Option<BatchState> {
        [
            BatchState::Init,
            BatchState::InProgress,
            BatchState::Complete,
            BatchState::Aborted,
            BatchState::Retired,
        ]
        .get(usize::try_from(c).ok()?)
        .copied()
    }
}

/// A job's status as `query_batch` and `query_batch2` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Done,
    Error,
    InProgress,
    /// `queued` (query_batch) or `UNSENT` (query_batch2).
    Unsent,
    /// Without `get_job_details`, only the canonical instance tells: none yet.
    Unknown,
}

impl JobStatus {
    fn parse(s: &str) -> JobStatus {
        match s.trim().to_ascii_lowercase().as_str() {
            "done" => JobStatus::Done,
            "error" => JobStatus::Error,
            "in_progress" => JobStatus::InProgress,
            "queued" | "unsent" => JobStatus::Unsent,
            _ => JobStatus::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobInfo {
    pub id: Option<i64>,
    pub name: String,
    pub status: JobStatus,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchInfo {
    pub id: i64,
    pub state: BatchState,
    pub njobs: u64,
    pub nerror_jobs: u64,
    pub fraction_done: f64,
    pub jobs: Vec<JobInfo>,
}

fn num<T: std::str::FromStr>(e: &Element, name: &str) -> Result<T, RpcError> {
    let v = e
        .text_of(name)
        .ok_or_else(|| RpcError::Malformed(format!("<{}> without <{name}>", e.name)))?;
    v.parse()
        .map_err(|_| RpcError::Malformed(format!("<{name}> is `{v}`")))
}

/// A `query_batch` reply.
pub fn parse_query_batch(xml: &str) -> Result<BatchInfo, RpcError> {
    let doc = parse(xml);
    let r = reply(&doc, "query_batch")?;
    let code: i64 = num(r, "state")?;
    let jobs = r
        .children_named("job")
        .map(|j| {
            // A job with a canonical instance is done (its output exists), whatever its
            // status says: one that finished and was aborted in the same second shows
            // `error` with a canonical instance on a real server.
            let status = match (j.text_of("status"), j.text_of("canonical_instance_id")) {
                (_, Some(c)) if c.parse::<i64>().is_ok_and(|id| id != 0) => JobStatus::Done,
                (Some(s), _) => JobStatus::parse(s),
                _ => JobStatus::Unknown,
            };
            Ok(JobInfo {
                id: j.text_of("id").and_then(|v| v.parse().ok()),
                name: j.text_of("name").unwrap_or("").to_string(),
                status,
            })
        })
        .collect::<Result<Vec<_>, RpcError>>()?;
    Ok(BatchInfo {
        id: num(r, "id")?,
        state: BatchState::from_code(code)
            .ok_or_else(|| RpcError::Malformed(format!("unknown batch state {code}")))?,
        njobs: num(r, "njobs")?,
        nerror_jobs: num(r, "nerror_jobs").unwrap_or(0),
        fraction_done: num(r, "fraction_done")?,
        jobs,
    })
}

/// A `query_batch2` reply: server time and the jobs modified since the given time.
pub fn parse_query_batch2(xml: &str) -> Result<(f64, Vec<JobInfo>), RpcError> {
    let doc = parse(xml);
    let r = reply(&doc, "query_batch2")?;
    let jobs = r
        .children_named("job")
        .map(|j| JobInfo {
            id: None,
            name: j.text_of("job_name").unwrap_or("").to_string(),
            status: JobStatus::parse(j.text_of("status").unwrap_or("")),
        })
        .collect();
    Ok((num(r, "server_time")?, jobs))
}

/// The batch id of a `create_batch` or `submit_batch` reply.
pub fn parse_batch_id(xml: &str, op: &str) -> Result<i64, RpcError> {
    let doc = parse(xml);
    num(reply(&doc, op)?, "batch_id")
}

/// `abort_jobs`, `abort_batch`, `retire_batch`, `ping`: success or the server's error.
pub fn parse_success(xml: &str, op: &str) -> Result<(), RpcError> {
    let doc = parse(xml);
    let r = reply(&doc, op)?;
    match r.find("success").map(|s| s.text.trim()) {
        Some("1") => Ok(()),
        other => Err(RpcError::Malformed(format!(
            "<{op}> without <success>1</success> ({other:?})"
        ))),
    }
}

/// One job of a `submit_batch` request.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    pub name: String,
    pub rsc_fpops_est: f64,
    pub command_line: String,
    /// Run only on hosts of this user (the Cloud account), as BOINC's assigned jobs.
    pub target_user: Option<i64>,
    pub priority: Option<i64>,
    pub inputs: Vec<InputFile>,
}

/// An input file of a submitted job (`<input_file>`), in the modes the adapter uses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum InputFile {
    /// The file's content travels in the request.
    Inline { content: String },
    /// A file already staged on the server under `source`.
    LocalStaged { source: String },
    /// A file the server downloads.
    Remote {
        url: String,
        nbytes: u64,
        md5: String,
    },
}

impl InputFile {
    fn xml(&self) -> String {
        match self {
            InputFile::Inline { content } => format!(
                "<input_file><mode>inline</mode><source>{}</source></input_file>\n",
                escape(content)
            ),
            InputFile::LocalStaged { source } => format!(
                "<input_file><mode>local_staged</mode><source>{}</source></input_file>\n",
                escape(source)
            ),
            InputFile::Remote { url, nbytes, md5 } => format!(
                "<input_file><mode>remote</mode><url>{}</url><nbytes>{nbytes}</nbytes><md5>{}</md5></input_file>\n",
                escape(url),
                escape(md5)
            ),
        }
    }
}

fn open(op: &str, authenticator: &str) -> String {
    format!(
        "<{op}>\n<authenticator>{}</authenticator>\n",
        escape(authenticator)
    )
}

pub fn query_batch(authenticator: &str, batch_id: i64, job_details: bool) -> String {
    let mut s = open("query_batch", authenticator);
    let _ = write!(
        s,
        "<batch_id>{batch_id}</batch_id>\n<get_job_details>{}</get_job_details>\n</query_batch>\n",
        job_details as u8
    );
    s
}

/// `query_batch` selecting the batch by name (how a submission that failed or timed out is
/// looked for before it is made again).
pub fn query_batch_named(authenticator: &str, batch_name: &str) -> String {
    let mut s = open("query_batch", authenticator);
    let _ = write!(
        s,
        "<batch_name>{}</batch_name>\n<get_job_details>1</get_job_details>\n</query_batch>\n",
        escape(batch_name)
    );
    s
}

/// Lists the account's batches; the service sends it to check a key a user links (a real
/// server answers only a valid key with submit access).
pub fn query_batches(authenticator: &str) -> String {
    let mut s = open("query_batches", authenticator);
    s.push_str("<get_cpu_time>0</get_cpu_time>\n</query_batches>\n");
    s
}

/// A `query_batches` reply: the ids of the account's batches that are not retired.
pub fn parse_query_batches(xml: &str) -> Result<Vec<i64>, RpcError> {
    let doc = parse(xml);
    let r = reply(&doc, "query_batches")?;
    r.children_named("batch").map(|b| num(b, "id")).collect()
}

pub fn query_batch2(authenticator: &str, batch_names: &[&str], min_mod_time: f64) -> String {
    let mut s = open("query_batch2", authenticator);
    for b in batch_names {
        let _ = writeln!(s, "<batch_name>{}</batch_name>", escape(b));
    }
    let _ = write!(
        s,
        "<min_mod_time>{min_mod_time}</min_mod_time>\n</query_batch2>\n"
    );
    s
}

/// A batch of jobs (Cloud Duplication submits copies of the unfinished jobs this way, each
/// targeted to the Cloud account).
pub fn submit_batch(
    authenticator: &str,
    app_name: &str,
    batch_name: &str,
    jobs: &[JobSpec],
    delay_bound: Option<f64>,
) -> String {
    let mut s = open("submit_batch", authenticator);
    let _ = write!(
        s,
        "<batch>\n<app_name>{}</app_name>\n<batch_name>{}</batch_name>\n",
        escape(app_name),
        escape(batch_name)
    );
    // The real handler ignores a per-job estimate but passes a batch-level one to
    // create_work: the largest, so hosts that fetch by estimate take no more than they should.
    let est = jobs.iter().map(|j| j.rsc_fpops_est).fold(0.0, f64::max);
    let mut params = String::new();
    if est > 0.0 && est.is_finite() {
        let _ = write!(params, "<rsc_fpops_est>{est}</rsc_fpops_est>");
    }
    if let Some(d) = delay_bound.filter(|d| d.is_finite() && *d > 0.0) {
        let _ = write!(params, "<delay_bound>{}</delay_bound>", d.round());
    }
    if !params.is_empty() {
        let _ = writeln!(s, "<job_params>{params}</job_params>");
    }
    for j in jobs {
        let _ = write!(
            s,
            "<job>\n<name>{}</name>\n<rsc_fpops_est>{}</rsc_fpops_est>\n<command_line>{}</command_line>\n",
            escape(&j.name),
            j.rsc_fpops_est,
            escape(&j.command_line)
        );
        if let Some(u) = j.target_user {
            let _ = writeln!(s, "<target_user>{u}</target_user>");
        }
        if let Some(p) = j.priority {
            let _ = writeln!(s, "<priority>{p}</priority>");
        }
        for f in &j.inputs {
            s.push_str(&f.xml());
        }
        s.push_str("</job>\n");
    }
    s.push_str("</batch>\n</submit_batch>\n");
    s
}

pub fn abort_jobs(authenticator: &str, job_names: &[&str]) -> String {
    let mut s = open("abort_jobs", authenticator);
    for j in job_names {
        let _ = writeln!(s, "<job_name>{}</job_name>", escape(j));
    }
    s.push_str("</abort_jobs>\n");
    s
}

pub fn retire_batch(authenticator: &str, batch_id: i64) -> String {
    let mut s = open("retire_batch", authenticator);
    let _ = write!(s, "<batch_id>{batch_id}</batch_id>\n</retire_batch>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n";

    #[test]
    fn query_batch_with_and_without_details() {
        let xml = format!(
            "{HEADER}<query_batch>\n<id>17</id> <create_time>1795258000</create_time> <njobs>3</njobs> <fraction_done>0.6666</fraction_done>\n\
             <nerror_jobs>1</nerror_jobs> <state>1</state> <name>spq-17</name> <app_name>uppercase</app_name>\n\
             <job><id>3301</id><name>spq_b17_j0</name><canonical_instance_id>99880</canonical_instance_id><status>done</status></job>\n\
             <job><id>3302</id><name>spq_b17_j1</name><canonical_instance_id>0</canonical_instance_id><error>cancelled</error><status>error</status></job>\n\
             <job><id>3303</id><name>spq_b17_j2</name><canonical_instance_id>0</canonical_instance_id></job>\n</query_batch>\n"
        );
        let b = parse_query_batch(&xml).unwrap();
        assert_eq!(
            (b.id, b.state, b.njobs, b.nerror_jobs),
            (17, BatchState::InProgress, 3, 1)
        );
        let st: Vec<JobStatus> = b.jobs.iter().map(|j| j.status).collect();
        assert_eq!(st, [JobStatus::Done, JobStatus::Error, JobStatus::Unknown]);
        assert_eq!(b.jobs[0].id, Some(3301));
        // Without details, a canonical instance means done.
        let lean = xml.replace("<status>done</status>", "");
        assert_eq!(
            parse_query_batch(&lean).unwrap().jobs[0].status,
            JobStatus::Done
        );
    }

    #[test]
    fn errors_only_with_a_nonzero_number_are_fatal() {
        let fatal = format!("{HEADER}<query_batch>\n<error>\n    <error_num>-1</error_num>\n    <error_msg>bad authenticator</error_msg>\n</error>\n</query_batch>\n");
        assert_eq!(
            parse_query_batch(&fatal).unwrap_err(),
            RpcError::Server {
                num: -1,
                msg: "bad authenticator".into()
            }
        );
        // A PHP warning rendered as <error> without a number does not stop the reply.
        let warned = format!("{HEADER}<error><error_msg>Undefined variable</error_msg></error><ping><success>1</success></ping>");
        assert!(parse_success(&warned, "ping").is_ok());
        assert!(matches!(
            parse_success("<pong/>", "ping"),
            Err(RpcError::Malformed(_))
        ));
    }

    #[test]
    fn abort_jobs_reply_with_unclosed_lines() {
        let xml = format!("{HEADER}<abort_jobs>\n<aborted spq_b17_j0_copy>\n<aborted spq_b17_j1_copy>\n<success>1</success>\n</abort_jobs>\n");
        assert!(parse_success(&xml, "abort_jobs").is_ok());
        let doc = parse(&xml);
        assert_eq!(
            doc.child("abort_jobs")
                .unwrap()
                .children_named("aborted")
                .count(),
            2
        );
    }

    #[test]
    fn incremental_poll_and_batch_ids() {
        let xml = "<query_batch2><server_time>1795258123.5</server_time><batch_size>2</batch_size>\
                   <job><job_name>a</job_name><status>DONE</status></job><job><job_name>b</job_name><status>UNSENT</status></job></query_batch2>";
        let (t, jobs) = parse_query_batch2(xml).unwrap();
        assert_eq!(t, 1795258123.5);
        assert_eq!(
            jobs.iter().map(|j| j.status).collect::<Vec<_>>(),
            [JobStatus::Done, JobStatus::Unsent]
        );
        assert_eq!(
            parse_batch_id(
                "<submit_batch>\n<batch_id>18</batch_id>\n</submit_batch>",
                "submit_batch"
            )
            .unwrap(),
            18
        );
        assert!(parse_batch_id(
            "<submit_batch><batch_id>x</batch_id></submit_batch>",
            "submit_batch"
        )
        .is_err());
    }

    #[test]
    fn requests_escape_values_and_round_trip_through_the_parser() {
        let jobs = vec![JobSpec {
            name: "spq_b17_j0_copy".into(),
            rsc_fpops_est: 1e12,
            command_line: "--n 0 <&>".into(),
            target_user: Some(42),
            priority: Some(100),
            inputs: vec![InputFile::Inline {
                content: "a<b".into(),
            }],
        }];
        let req = submit_batch("key&", "uppercase", "spq-tail-17", &jobs, Some(600.0));
        let doc = parse(&req);
        let r = doc.child("submit_batch").unwrap();
        assert_eq!(r.text_of("authenticator"), Some("key&"));
        let job = r.child("batch").unwrap().child("job").unwrap();
        assert_eq!(job.text_of("command_line"), Some("--n 0 <&>"));
        assert_eq!(job.text_of("target_user"), Some("42"));
        let params = r.child("batch").unwrap().child("job_params").unwrap();
        assert_eq!(params.text_of("rsc_fpops_est"), Some("1000000000000"));
        assert_eq!(params.text_of("delay_bound"), Some("600"));
        let input = job.child("input_file").unwrap();
        assert_eq!(input.text_of("mode"), Some("inline"));
        assert_eq!(input.text_of("source"), Some("a<b"));
        assert!(query_batch("k", 17, true).contains("<get_job_details>1</get_job_details>"));
        assert_eq!(
            parse(&abort_jobs("k", &["a", "b"]))
                .find("abort_jobs")
                .unwrap()
                .children_named("job_name")
                .count(),
            2
        );
        assert!(query_batch2("k", &["x"], 5.0).contains("<min_mod_time>5</min_mod_time>"));
        assert!(retire_batch("k", 3).contains("<batch_id>3</batch_id>"));
    }

    proptest::proptest! {
        /// Tag soup from a network peer: parsed or refused, never a panic.
        #[test]
        fn any_text_is_parsed_without_panicking(s in "[<>/a-z !\\[\\]?&;=\"é0-9-]{0,80}") {
            let _ = parse(&s);
            let _ = parse_query_batch(&s);
            let _ = parse_success(&s, "abort_jobs");
        }
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "",
            "<",
            "<<>>",
            "</a></b>",
            "<a><b></a>",
            "<![CDATA[x",
            "<!--",
            "&amp;&",
            "<a x='1'>t</a",
            "<?xml",
        ] {
            let _ = parse(s);
            let _ = parse_query_batch(s);
        }
    }
}
