COMMENT
ProbAMPANMDA_EMS: the example circuit's excitatory synapse (circuitflow, Apache-2.0; written for this
project, not Blue Brain's mechanism of the same name). It keeps the interface neurodamus'
AMPANMDAHelper uses (Use, Dep, Fac, Nrrp, tau_d_AMPA, NMDA_ratio, setRNG, synapseID), so neurodamus
runs a SONATA circuit with it, but releases deterministically: the expected value of the
Tsodyks-Markram model (Fuhrmann et al. 2002) instead of stochastic vesicle release.
AMPA and NMDA (Mg block, Jahr and Stevens 1990) dual-exponential conductances with peak 1 for a full
release; NetCon weight = SONATA conductance (nS). n_events counts the presynaptic events received.
ENDCOMMENT

NEURON {
    THREADSAFE
    POINT_PROCESS ProbAMPANMDA_EMS
    RANGE tau_r_AMPA, tau_d_AMPA, tau_r_NMDA, tau_d_NMDA, NMDA_ratio
    RANGE Use, Dep, Fac, Nrrp, e, mg
    RANGE g, g_AMPA, g_NMDA, i_AMPA, i_NMDA
    RANGE synapseID, selected_for_report, verboseLevel, conductance, n_events
    NONSPECIFIC_CURRENT i
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}

PARAMETER {
    tau_r_AMPA = 0.2 (ms)
    tau_d_AMPA = 1.7 (ms)
    tau_r_NMDA = 0.29 (ms)
    tau_d_NMDA = 43 (ms)
    NMDA_ratio = 0.71
    Use = 0.5
    Dep = 100 (ms)
    Fac = 10 (ms)
    Nrrp = 1
    e = 0 (mV)
    mg = 1
    gmax = 0.001 (uS)
    synapseID = 0
    selected_for_report = 0
    verboseLevel = 0
    conductance = 0
}

ASSIGNED {
    v (mV)
    i (nA)
    i_AMPA (nA)
    i_NMDA (nA)
    g_AMPA (uS)
    g_NMDA (uS)
    g (uS)
    factor_AMPA
    factor_NMDA
    n_events
}

STATE {
    A_AMPA
    B_AMPA
    A_NMDA
    B_NMDA
}

INITIAL {
    A_AMPA = 0
    B_AMPA = 0
    A_NMDA = 0
    B_NMDA = 0
    factor_AMPA = peak_factor(tau_r_AMPA, tau_d_AMPA)
    factor_NMDA = peak_factor(tau_r_NMDA, tau_d_NMDA)
    n_events = 0
}

BREAKPOINT {
    LOCAL mggate
    SOLVE states METHOD cnexp
    mggate = 1 / (1 + exp(-0.062 * v) * (mg / 3.57))
    g_AMPA = gmax * (B_AMPA - A_AMPA)
    g_NMDA = gmax * (B_NMDA - A_NMDA) * mggate
    g = g_AMPA + g_NMDA
    i_AMPA = g_AMPA * (v - e)
    i_NMDA = g_NMDA * (v - e)
    i = i_AMPA + i_NMDA
}

DERIVATIVE states {
    A_AMPA' = -A_AMPA / tau_r_AMPA
    B_AMPA' = -B_AMPA / tau_d_AMPA
    A_NMDA' = -A_NMDA / tau_r_NMDA
    B_NMDA' = -B_NMDA / tau_d_NMDA
}

: 1 / the peak of exp(-t/tau_d) - exp(-t/tau_r), so that a full release peaks at the weight
FUNCTION peak_factor(tau_r (ms), tau_d (ms)) {
    LOCAL tp
    tp = (tau_r * tau_d) / (tau_d - tau_r) * log(tau_d / tau_r)
    peak_factor = 1 / (exp(-tp / tau_d) - exp(-tp / tau_r))
}

NET_RECEIVE (weight, u, R, tsyn (ms)) {
    LOCAL release, w
    INITIAL {
        u = 0
        R = 1
        tsyn = t
    }
    if (flag == 0 && weight > 0 && t >= 0) {
        n_events = n_events + 1
        : facilitation decays and resources recover since the last event of this NetCon
        if (Fac > 0) {
            u = u * exp(-(t - tsyn) / Fac)
        } else {
            u = 0
        }
        u = u + Use * (1 - u)
        R = 1 - (1 - R) * exp(-(t - tsyn) / Dep)
        release = u * R
        R = R - release
        tsyn = t
        w = weight * release
        A_AMPA = A_AMPA + w * factor_AMPA
        B_AMPA = B_AMPA + w * factor_AMPA
        A_NMDA = A_NMDA + w * NMDA_ratio * factor_NMDA
        B_NMDA = B_NMDA + w * NMDA_ratio * factor_NMDA
    }
}

: neurodamus' helpers seed a stochastic release; this deterministic synapse has nothing to seed.
PROCEDURE setRNG(a, b, c) {
}

PROCEDURE clearRNG() {
}
