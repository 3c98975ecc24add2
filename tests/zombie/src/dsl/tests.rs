use super::*;

fn one(line: &str) -> Assertion {
    let text = format!("Network: ./n.toml\n{line}\n");
    let mut file = parse(&text).unwrap_or_else(|e| panic!("{line}: {e}"));
    assert_eq!(file.assertions.len(), 1);
    file.assertions.remove(0)
}

fn error(line: &str) -> DslError {
    let text = format!("Description: d\nNetwork: ./n.toml\n\n{line}\n");
    parse(&text).expect_err(line)
}

#[test]
fn headers_comments_and_line_numbers() {
    let file = parse(
        "Description: PVF timings\nNetwork: ./0001.toml\nCreds: config\n\n# a comment\nalice: is up\n  bob: is up within 5 seconds\n",
    )
    .unwrap();
    assert_eq!(file.description.as_deref(), Some("PVF timings"));
    assert_eq!(file.network, PathBuf::from("./0001.toml"));
    assert_eq!(file.assertions.len(), 2);
    assert_eq!(file.assertions[0].line, 6);
    assert!(file.assertions[0].within.is_none());
    assert_eq!(file.assertions[1].line, 7);
    assert_eq!(file.assertions[1].text, "bob: is up within 5 seconds");
    assert_eq!(file.assertions[1].within, Some(Duration::from_secs(5)));
    assert!(matches!(&file.assertions[1].check, Check::IsUp { node } if node == "bob"));
}

#[test]
fn metric_forms() {
    let a = one(
        r#"alice: reports polkadot_pvf_execution_time_bucket{le="2"} is at least 3 within 30 seconds"#,
    );
    let Check::Metric {
        node,
        query,
        cmp,
        value,
    } = a.check
    else {
        panic!()
    };
    assert_eq!(node, "alice");
    assert_eq!(query.name, "polkadot_pvf_execution_time_bucket");
    assert_eq!(query.labels, [("le".to_string(), "2".to_string())]);
    assert_eq!((cmp, value), (Cmp::Ge, 3.0));
    assert_eq!(a.within, Some(Duration::from_secs(30)));
    for (op, expected) in [
        ("is", Cmp::Eq),
        ("==", Cmp::Eq),
        ("<", Cmp::Lt),
        (">", Cmp::Gt),
        (">=", Cmp::Ge),
        ("<=", Cmp::Le),
        ("is at most", Cmp::Le),
    ] {
        let a = one(&format!("alice: reports m{{a=\"x\",b=\"y\"}} {op} 1.5"));
        let Check::Metric {
            query, cmp, value, ..
        } = a.check
        else {
            panic!()
        };
        assert_eq!((cmp, value), (expected, 1.5), "{op}");
        assert_eq!(query.labels.len(), 2);
    }
    let a = one("alice: reports pvf_host_verdicts_total > 0");
    assert!(matches!(a.check, Check::Metric { ref query, .. } if query.labels.is_empty()));
}

#[test]
fn histogram_form() {
    let a = one(
        r#"alice: reports histogram polkadot_pvf_execution_time has at least 2 samples in buckets ["0.1", "+Inf"] within 9 seconds"#,
    );
    let Check::Histogram {
        node,
        name,
        buckets,
        cmp,
        value,
    } = a.check
    else {
        panic!()
    };
    assert_eq!(
        (node.as_str(), name.as_str()),
        ("alice", "polkadot_pvf_execution_time")
    );
    assert_eq!(buckets, ["0.1", "+Inf"]);
    assert_eq!((cmp, value), (Cmp::Ge, 2.0));
    let a = one(r#"alice: reports histogram h has 0 samples in buckets ["3"]"#);
    assert!(matches!(a.check, Check::Histogram { cmp: Cmp::Eq, .. }));
    let a = one(r#"alice: reports histogram h has at most 1 sample in buckets ["3"]"#);
    assert!(matches!(a.check, Check::Histogram { cmp: Cmp::Le, .. }));
    let e = error(r#"alice: reports histogram h has 0 samples in buckets [3]"#);
    assert!(e.message.contains("not a quoted bound"), "{e}");
    let e = error(r#"alice: reports histogram h is 0"#);
    assert!(e.message.contains("samples in buckets"), "{e}");
}

#[test]
fn log_forms() {
    let a = one(r#"alice: log line contains "pvf-node serving" within 5 seconds"#);
    let Check::LogLine {
        pattern: Pattern::Contains(s),
        ..
    } = a.check
    else {
        panic!()
    };
    assert_eq!(s, "pvf-node serving");
    let a = one(r#"malus: log line matches "MALUS intercept.*(approval|dispute)""#);
    let Check::LogLine { pattern, .. } = a.check else {
        panic!()
    };
    assert!(pattern.is_match("x MALUS intercept: approval y"));
    assert!(!pattern.is_match("MALUS intercept: backing"));
    let a = one(r#"alice: log line contains "say \"hi\"""#);
    let Check::LogLine {
        pattern: Pattern::Contains(s),
        ..
    } = a.check
    else {
        panic!()
    };
    assert_eq!(s, "say \"hi\"");
    let a = one(r#"alice: count of log lines containing "panicked" is 0"#);
    let Check::LogCount {
        pattern,
        cmp,
        value,
        ..
    } = a.check
    else {
        panic!()
    };
    assert!(pattern.is_match("thread panicked"));
    assert_eq!((cmp, value), (Cmp::Eq, 0.0));
    let a = one(r#"bob: count of log lines matching "^x\d" is at least 2 within 3 seconds"#);
    assert!(matches!(a.check, Check::LogCount { cmp: Cmp::Ge, .. }));
}

#[test]
fn stand_in_facts() {
    let a = one("parachain 100: candidates approved is at least 3 within 30 seconds");
    let Check::Para {
        para,
        fact,
        cmp,
        value,
    } = a.check
    else {
        panic!()
    };
    assert_eq!(
        (para, fact, cmp, value),
        (100, ParaFact::Approved, Cmp::Ge, 3.0)
    );
    for (text, expected) in [
        ("candidates backed", ParaFact::Backed),
        ("candidates disputed", ParaFact::Disputed),
        (
            "candidates approved on new code",
            ParaFact::ApprovedOnNewCode,
        ),
        ("candidates reverted", ParaFact::Reverted),
        ("block height", ParaFact::Height),
        ("upgrades accepted", ParaFact::UpgradesAccepted),
        ("upgrades rejected", ParaFact::UpgradesRejected),
        ("upgrades enacted", ParaFact::UpgradesEnacted),
    ] {
        let a = one(&format!("parachain 7: {text} > 0"));
        assert!(
            matches!(a.check, Check::Para { fact, .. } if fact == expected),
            "{text}"
        );
    }
    let a = one("dispute concluded valid within 20 seconds");
    assert!(matches!(
        a.check,
        Check::Disputes { fact: DisputeFact::ConcludedValid, cmp: Cmp::Ge, value } if value == 1.0
    ));
    let a = one("dispute concluded invalid");
    assert!(matches!(
        a.check,
        Check::Disputes {
            fact: DisputeFact::ConcludedInvalid,
            ..
        }
    ));
    let a = one("disputes concluded invalid is 0");
    assert!(matches!(
        a.check,
        Check::Disputes {
            fact: DisputeFact::ConcludedInvalid,
            cmp: Cmp::Eq,
            ..
        }
    ));
    let a = one("disputes raised is at least 1");
    assert!(matches!(
        a.check,
        Check::Disputes {
            fact: DisputeFact::Raised,
            ..
        }
    ));
    let a = one("disputes unconcluded > 0");
    assert!(matches!(
        a.check,
        Check::Disputes {
            fact: DisputeFact::Unconcluded,
            ..
        }
    ));
    let a = one("bob: was slashed");
    assert!(matches!(a.check, Check::Slashed { slashed: true, .. }));
    let a = one("alice: was not slashed");
    assert!(matches!(a.check, Check::Slashed { slashed: false, .. }));
}

#[test]
fn errors_name_the_line() {
    let e = error("alice: is down");
    assert_eq!(e.line, 4);
    assert!(e.message.contains("unknown assertion"), "{e}");
    let e = error("alice: reports m is many");
    assert!(
        e.to_string().starts_with("line 4:") && e.message.contains("after \"is\""),
        "{e}"
    );
    let e = error("alice: reports m{le=2} is 1");
    assert!(e.message.contains("bad label"), "{e}");
    let e = error("alice: log line contains unquoted");
    assert!(e.message.contains("quoted"), "{e}");
    let e = error("alice: log line matches \"(\"");
    assert!(e.message.contains("bad regular expression"), "{e}");
    let e = error("alice: is up within soon");
    assert!(e.message.contains("within N seconds"), "{e}");
    let e = error("parachain 100: candidates eaten is 1");
    assert!(e.message.contains("unknown parachain fact"), "{e}");
    let e = error("disputes lost is 1");
    assert!(e.message.contains("disputes raised"), "{e}");
    let e = error("dispute concluded maybe");
    assert_eq!(e.line, 4);
    let e = error("parachain 100: block height is");
    assert!(e.message.contains("comparison"), "{e}");
    let e = parse("alice: is up\n").unwrap_err();
    assert_eq!(e.line, 0);
    assert!(e.message.contains("Network"), "{e}");
    let e = parse("Network: n.toml\n# nothing\n").unwrap_err();
    assert!(e.message.contains("no assertions"), "{e}");
}

#[test]
fn cmp_holds() {
    assert!(Cmp::Eq.holds(1.0, 1.0) && !Cmp::Eq.holds(1.0, 2.0));
    assert!(Cmp::Ge.holds(2.0, 2.0) && !Cmp::Ge.holds(1.0, 2.0));
    assert!(Cmp::Le.holds(2.0, 2.0) && !Cmp::Le.holds(3.0, 2.0));
    assert!(Cmp::Lt.holds(1.0, 2.0) && !Cmp::Lt.holds(2.0, 2.0));
    assert!(Cmp::Gt.holds(3.0, 2.0) && !Cmp::Gt.holds(2.0, 2.0));
}
