COMMENT
ProbGABAAB_EMS: the example circuit's inhibitory synapse (circuitflow, Apache-2.0; written for this
project, not Blue Brain's mechanism of the same name). It keeps the interface neurodamus'
GABAABHelper uses (Use, Dep, Fac, Nrrp, tau_r_GABAA, tau_d_GABAA, GABAB_ratio, setRNG, synapseID),
so neurodamus runs a SONATA circuit with it, but releases deterministically: the expected value of
the Tsodyks-Markram model (Fuhrmann et al. 2002) instead of stochastic vesicle release.
GABAA and GABAB dual-exponential conductances with peak 1 for a full release; NetCon weight =
SONATA conductance (nS). n_events counts the presynaptic events received.
ENDCOMMENT

NEURON {
    THREADSAFE
    POINT_PROCESS ProbGABAAB_EMS
    RANGE tau_r_GABAA, tau_d_GABAA, tau_r_GABAB, tau_d_GABAB, GABAB_ratio
    RANGE Use, Dep, Fac, Nrrp, e_GABAA, e_GABAB
    RANGE g, g_GABAA, g_GABAB, i_GABAA, i_GABAB
    RANGE synapseID, selected_for_report, verboseLevel, conductance, n_events
    NONSPECIFIC_CURRENT i
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}

PARAMETER {
    tau_r_GABAA = 0.2 (ms)
    tau_d_GABAA = 8 (ms)
    tau_r_GABAB = 3.5 (ms)
    tau_d_GABAB = 260.9 (ms)
    GABAB_ratio = 0
    Use = 0.25
    Dep = 700 (ms)
    Fac = 0 (ms)
    Nrrp = 1
    e_GABAA = -80 (mV)
    e_GABAB = -97 (mV)
    gmax = 0.001 (uS)
    synapseID = 0
    selected_for_report = 0
    verboseLevel = 0
    conductance = 0
}

ASSIGNED {
    v (mV)
    i (nA)
    i_GABAA (nA)
    i_GABAB (nA)
    g_GABAA (uS)
    g_GABAB (uS)
    g (uS)
    factor_GABAA
    factor_GABAB
    n_events
}

STATE {
    A_GABAA
    B_GABAA
    A_GABAB
    B_GABAB
}

INITIAL {
    A_GABAA = 0
    B_GABAA = 0
    A_GABAB = 0
    B_GABAB = 0
    factor_GABAA = peak_factor(tau_r_GABAA, tau_d_GABAA)
    factor_GABAB = peak_factor(tau_r_GABAB, tau_d_GABAB)
    n_events = 0
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    g_GABAA = gmax * (B_GABAA - A_GABAA)
    g_GABAB = gmax * (B_GABAB - A_GABAB)
    g = g_GABAA + g_GABAB
    i_GABAA = g_GABAA * (v - e_GABAA)
    i_GABAB = g_GABAB * (v - e_GABAB)
    i = i_GABAA + i_GABAB
}

DERIVATIVE states {
    A_GABAA' = -A_GABAA / tau_r_GABAA
    B_GABAA' = -B_GABAA / tau_d_GABAA
    A_GABAB' = -A_GABAB / tau_r_GABAB
    B_GABAB' = -B_GABAB / tau_d_GABAB
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
        A_GABAA = A_GABAA + w * factor_GABAA
        B_GABAA = B_GABAA + w * factor_GABAA
        A_GABAB = A_GABAB + w * GABAB_ratio * factor_GABAB
        B_GABAB = B_GABAB + w * GABAB_ratio * factor_GABAB
    }
}

: neurodamus' helpers seed a stochastic release; this deterministic synapse has nothing to seed.
PROCEDURE setRNG(a, b, c) {
}

PROCEDURE clearRNG() {
}
