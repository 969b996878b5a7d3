//! The story of a local run: narrated as it happens in text mode, kept for the report.

use crate::output::Printer;
use crate::reports::StoryStep;

/// Narrates in text mode, collects for the report.
pub(super) struct Story {
    printer: Printer,
    steps: Vec<StoryStep>,
}

impl Story {
    pub(super) fn new(printer: Printer) -> Self {
        Self {
            printer,
            steps: Vec::new(),
        }
    }

    /// A new step.
    pub(super) fn step(&mut self, title: &str) {
        self.printer.line(&format!("\n== {title}"));
        self.steps.push(StoryStep {
            step: title.to_owned(),
            lines: Vec::new(),
        });
    }

    /// A line of the current step.
    pub(super) fn line(&mut self, text: &str) {
        self.printer.line(&format!("   {text}"));
        if let Some(step) = self.steps.last_mut() {
            step.lines.push(text.to_owned());
        }
    }

    pub(super) fn into_steps(self) -> Vec<StoryStep> {
        self.steps
    }
}
