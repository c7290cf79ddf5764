//! Policy-gradient and preference losses with exact gradients (issue 3; in progress).
