// Package retry paces the retries of the backends' watch loops and lock waits, and of
// leadership's campaign: a delay that doubles from a minimum to a maximum between failed
// attempts, each wait drawn at random around it so that the watches of one Store, all cut by
// the same outage, do not all retry at the same instant. Sleep is the one context-aware pause.
package retry
