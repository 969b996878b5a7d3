//! Prints the test prerequisites this machine lacks, one line each: the marker of the tests
//! that need it, a tab, and why it is missing. `scripts/test` leaves those tests out unless
//! `CI` is set.

use chiaro_test_support::prerequisite;

fn main() {
    for (prerequisite, why) in prerequisite::missing() {
        #[expect(clippy::print_stdout, reason = "the script reads the list")]
        {
            println!("{}\t{why}", prerequisite.marker());
        }
    }
}
