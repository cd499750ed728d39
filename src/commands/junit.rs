//! JUnit XML, the report format CI systems render (`--output junit`): one test suite per
//! run, one test case per judged unit (an object for `test`, a constraint for `audit`, a
//! case for `verify`), a `<failure>` for what denies or fails and an `<error>` for what
//! could not be judged.

/// One test case.
#[derive(Debug, Default)]
pub struct Case {
    /// Shown as the test name.
    pub name: String,
    /// Shown as the test's class (where it came from).
    pub classname: String,
    /// A failure's one-line message and full text.
    pub failure: Option<(String, String)>,
    /// An error's one-line message and full text.
    pub error: Option<(String, String)>,
    /// Anything else worth seeing (warnings).
    pub output: String,
}

/// XML text with the five predefined entities escaped, and characters XML 1.0 cannot hold
/// (control characters other than tab and newlines) dropped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// The whole document for a suite named `name`.
pub fn render(name: &str, cases: &[Case]) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let errors = cases.iter().filter(|c| c.error.is_some()).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{0}\" tests=\"{1}\" failures=\"{2}\" errors=\"{3}\">\n<testsuite name=\"{0}\" tests=\"{1}\" failures=\"{2}\" errors=\"{3}\">\n",
        escape(name),
        cases.len(),
        failures,
        errors
    );
    for c in cases {
        out.push_str(&format!(
            "  <testcase name=\"{}\" classname=\"{}\">\n",
            escape(&c.name),
            escape(&c.classname)
        ));
        if let Some((message, text)) = &c.failure {
            out.push_str(&format!(
                "    <failure message=\"{}\">{}</failure>\n",
                escape(message),
                escape(text)
            ));
        }
        if let Some((message, text)) = &c.error {
            out.push_str(&format!(
                "    <error message=\"{}\">{}</error>\n",
                escape(message),
                escape(text)
            ));
        }
        if !c.output.is_empty() {
            out.push_str(&format!(
                "    <system-out>{}</system-out>\n",
                escape(&c.output)
            ));
        }
        out.push_str("  </testcase>\n");
    }
    out.push_str("</testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_counts() {
        let cases = [
            Case {
                name: "Pod a/<b>".into(),
                classname: "x.yaml#0".into(),
                failure: Some(("[c] \"bad\" & worse".into(), "line\u{1}1\nline 2".into())),
                ..Case::default()
            },
            Case {
                name: "ok".into(),
                output: "warn 'w'".into(),
                ..Case::default()
            },
        ];
        let xml = render("portcullis test", &cases);
        assert!(
            xml.contains("tests=\"2\" failures=\"1\" errors=\"0\""),
            "{xml}"
        );
        assert!(xml.contains("name=\"Pod a/&lt;b&gt;\""), "{xml}");
        assert!(
            xml.contains("message=\"[c] &quot;bad&quot; &amp; worse\""),
            "{xml}"
        );
        assert!(xml.contains(">line1\nline 2</failure>"), "{xml}");
        assert!(
            xml.contains("<system-out>warn &apos;w&apos;</system-out>"),
            "{xml}"
        );
    }
}
